// Two processes with live expiry timers on one SQLite file race to expire the same keys;
// optimistic concurrency on the key stream must leave exactly one ApiKeyExpired per key.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { KeyStatus } from '../../projections/read-model/views.js';
import { JwtService } from '../../services/crypto/jwt.js';
import { loadSigningKey } from '../../services/crypto/key-material.js';
import { Sealer } from '../../services/crypto/sealing.js';
import { Ledger, SYSTEM } from '../../services/ledger.js';
import { waitUntil } from '../support/async.js';
import { tempDir } from '../support/tmp.js';

const WORKER = fileURLToPath(new URL('../support/children/expiry-worker.js', import.meta.url));
const KEYS = 200;
const TAGS = ['a', 'b'] as const;

interface Worker {
  tag: string;
  proc: ChildProcess;
  stderr: () => string;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

function startWorker(tag: string, file: string, env: Record<string, string>): Worker {
  const proc = spawn(process.execPath, [WORKER, file], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env, WORKER_TAG: tag },
  });
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (l) => l === 'ready' && resolve());
    void exited.then((code) => reject(new Error(`worker ${tag} exited (${code}) before it was ready: ${err}`)));
  });
  ready.catch(() => undefined);
  return { tag, proc, stderr: () => err, ready, exited };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

async function readLog(store: SqliteEventStore, after = -1): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    out.push(...page.events);
    after = page.lastPosition;
    if (page.isEnd) return out;
  }
}

describe('expiry race: two processes, one file', () => {
  let dir: ReturnType<typeof tempDir>;
  let workers: Worker[] = [];
  let ledger: Ledger | null = null;
  beforeEach(() => {
    dir = tempDir('expiry-race');
  });
  afterEach(async () => {
    for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    workers = [];
    if (ledger) {
      await ledger.stop();
      await ledger.store.close();
      ledger = null;
    }
    dir.cleanup();
  });

  it('expiry events written once by two competing processes', async function () {
    this.timeout(30_000);
    const file = join(dir.path, 'ledger.db');
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const masterKey = randomBytes(32);
    const store = new SqliteEventStore(file, { pollIntervalMs: 20 });
    ledger = new Ledger({
      store,
      sealer: new Sealer(masterKey),
      jwt: new JwtService(await loadSigningKey(dir.path, pem), { issuer: 'test-issuer', audience: 'test-aud' }),
      expiryTimer: false, // this process only writes keys; the workers expire them
      usageFlushMs: 0,
      log: () => undefined,
    });
    await ledger.start();
    const u = await ledger.users.register(
      { email: 'race@example.com', name: 'Race', password: 'correct horse battery staple' },
      SYSTEM,
    );
    await ledger.workspaces.create('Race', u.id, SYSTEM);

    // Workers first, so half of them learn the keys live (polling) and the timers race on the same instants.
    const env = { LEDGER_TEST_PEM: pem, LEDGER_TEST_MASTER_KEY: masterKey.toString('base64') };
    workers = TAGS.map((tag) => startWorker(tag, file, env));
    await within(Promise.all(workers.map((w) => w.ready)), 10_000, 'workers ready');

    // Many keys, all due within half a second of each other, one to two seconds from now.
    const created = await Promise.all(
      Array.from({ length: KEYS }, (_, i) =>
        ledger!.keys.create(
          {
            userId: u.id,
            name: `k${i}`,
            expiresInSeconds: 1 + (i % 10) * 0.05,
            format: i % 20 === 0 ? 'jwt' : 'opaque',
          },
          SYSTEM,
        ),
      ),
    );
    const keyStreams = new Set(created.map((c) => `apikey-${c.key.id}`));
    expect(keyStreams.size).to.equal(KEYS);

    // Wait (bounded) until every key has an ApiKeyExpired, reading only what was written since the last look.
    const expiredStreams = new Set<string>();
    let cursor = await store.headPosition();
    const allExpired = async (): Promise<boolean> => {
      for (const e of await readLog(store, cursor)) {
        if (e.type === 'ApiKeyExpired') expiredStreams.add(e.streamId);
        cursor = e.position;
      }
      for (const w of workers) if (w.proc.exitCode !== null) expect.fail(`worker ${w.tag} died: ${w.stderr()}`);
      return expiredStreams.size >= KEYS;
    };
    await waitUntil(allExpired, 15_000, `all ${KEYS} keys to expire`).catch((err: Error) =>
      expect.fail(
        `${err.message}: ${expiredStreams.size}/${KEYS} expired; workers said: ${workers.map((w) => w.stderr()).join('')}`,
      ),
    );

    // Let both workers finish whatever they still had in flight, then stop them cleanly.
    for (const w of workers) w.proc.stdin!.end();
    const codes = await within(Promise.all(workers.map((w) => w.exited)), 10_000, 'workers stop');
    expect(codes).to.deep.equal([0, 0]);

    const log = await readLog(store);
    const perStream = new Map<string, number>();
    const byWorker = new Map<string, number>();
    for (const e of log) {
      if (e.type !== 'ApiKeyExpired') continue;
      perStream.set(e.streamId, (perStream.get(e.streamId) ?? 0) + 1);
      byWorker.set(e.id[0]!, (byWorker.get(e.id[0]!) ?? 0) + 1);
      expect(keyStreams.has(e.streamId)).to.equal(true);
      expect((e.metadata as { actor: unknown }).actor).to.deep.equal({ type: 'system', id: 'system' });
    }
    const twice = [...perStream].filter(([, n]) => n !== 1);
    expect(twice, 'streams with more than one ApiKeyExpired').to.deep.equal([]);
    expect(perStream.size).to.equal(KEYS);
    expect(
      [...byWorker.keys()].every((t) => (TAGS as readonly string[]).includes(t)),
      'only the workers expire keys',
    ).to.equal(true);

    // Each ApiKeyExpired is the stream's last event and says why.
    for (const s of keyStreams) {
      const evs = await store.readStream(s);
      expect(evs.map((e) => e.type)).to.deep.equal(['ApiKeyCreated', 'ApiKeyExpired']);
      expect(evs[1]!.data).to.deep.include({
        reason: 'ttl',
        expiredAt: (evs[0]!.data as { expiresAt: string }).expiresAt,
      });
    }
    // This process learns of the workers' expiries through polling.
    await within(ledger.read.waitFor(await store.headPosition()), 5_000, 'test read model catches up');
    for (const c of created) expect(ledger.read.key(c.key.id).status).to.equal(KeyStatus.Expired);
    if (process.env.RACE_DEBUG) console.log(Object.fromEntries(byWorker), workers.map((w) => w.stderr()).join(''));
  });
});
