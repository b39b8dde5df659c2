// Child process for the expiry race: a full Ledger with the real clock and the real expiry timer,
// sharing one SQLite file with another worker and with the test process.
//
//   LEDGER_TEST_PEM=<pkcs8 pem> LEDGER_TEST_MASTER_KEY=<base64> WORKER_TAG=<hex digit> node expiry-worker.js <file>
//
// Prints "ready" once its read model has caught up; stops cleanly when stdin ends (or on "stop").
// Its event ids start with WORKER_TAG repeated, so the parent can tell which worker wrote what.
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { SqliteEventStore } from '../../../events/store/sqlite.js';
import { JwtService } from '../../../services/crypto/jwt.js';
import { loadSigningKey } from '../../../services/crypto/key-material.js';
import { Sealer } from '../../../services/crypto/sealing.js';
import { randomIds, type IdGenerator } from '../../../services/ids.js';
import { Ledger } from '../../../services/ledger.js';

const file = process.argv[2];
const pem = process.env.LEDGER_TEST_PEM;
const master = process.env.LEDGER_TEST_MASTER_KEY;
const tag = process.env.WORKER_TAG ?? '0';
if (!file || !pem || !master || !/^[0-9a-f]$/.test(tag)) {
  process.stderr.write('usage: LEDGER_TEST_PEM=… LEDGER_TEST_MASTER_KEY=… WORKER_TAG=<hex> expiry-worker <file>\n');
  process.exit(2);
}

const ids: IdGenerator = { uuid: () => tag.repeat(8) + randomUUID().slice(8), id: (prefix) => randomIds.id(prefix) };
const signing = await loadSigningKey(dirname(file), pem);
const store = new SqliteEventStore(file, { pollIntervalMs: 10 });
const ledger = new Ledger({
  store,
  sealer: new Sealer(Buffer.from(master, 'base64')),
  jwt: new JwtService(signing, { issuer: 'test-issuer', audience: 'test-aud' }),
  ids,
  expiryTimer: true,
  usageFlushMs: 0,
  log: (msg, err) =>
    process.stderr.write(`[worker ${tag}] ${msg}: ${err instanceof Error ? err.message : String(err)}\n`),
});
await ledger.start();
process.stdout.write('ready\n');

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await ledger.stop();
  await store.close();
  process.stdout.write('stopped\n');
  process.exit(0);
};
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => {
  if (l.trim() === 'stop') void stop();
});
rl.on('close', () => void stop());
process.on('SIGTERM', () => void stop());
