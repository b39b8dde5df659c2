// A ledger on its own temporary SQLite file, with a clock the test controls.
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { JwtService } from '../../services/crypto/jwt.js';
import { loadSigningKey } from '../../services/crypto/key-material.js';
import { Sealer } from '../../services/crypto/sealing.js';
import { Ledger, SYSTEM, type LedgerOptions } from '../../services/ledger.js';
import { tempDir } from './tmp.js';
import type { ReadModel } from '../../projections/read-model/read-model.js';

export class TestClock {
  constructor(public ms = Date.parse('2026-01-01T00:00:00.000Z')) {}
  now = (): Date => new Date(this.ms);
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const masterKey = Buffer.alloc(32, 7);

export interface TestLedger {
  ledger: Ledger;
  clock: TestClock;
  dir: string;
  file: string;
  /** A second ledger on the same file; `from`: started from that model (a loaded snapshot) and the log after it. */
  reopen(opts?: Partial<LedgerOptions>, from?: ReadModel): Promise<Ledger>;
  dispose(): Promise<void>;
}

export async function makeLedger(opts: Partial<LedgerOptions> & { dir?: string } = {}): Promise<TestLedger> {
  const tmp = opts.dir ? { path: opts.dir, cleanup: () => undefined } : tempDir('ledger');
  const clock = new TestClock();
  const file = join(tmp.path, 'ledger.db');
  const signing = await loadSigningKey(tmp.path, pem);
  const open = async (o: Partial<LedgerOptions> = {}, from?: ReadModel): Promise<Ledger> => {
    const l = new Ledger({
      store: new SqliteEventStore(file, { pollIntervalMs: 20 }),
      sealer: new Sealer(masterKey),
      jwt: new JwtService(signing, { issuer: 'test-issuer', audience: 'test-aud' }),
      clock: clock.now,
      expiryTimer: false,
      usageFlushMs: 0,
      log: () => undefined,
      ...opts,
      ...o,
    });
    await l.start(from);
    return l;
  };
  const opened: Ledger[] = [];
  const first = await open();
  opened.push(first);
  return {
    ledger: first,
    clock,
    dir: tmp.path,
    file,
    reopen: async (o, from) => {
      const l = await open(o, from);
      opened.push(l);
      return l;
    },
    dispose: async () => {
      for (const l of opened) {
        await l.stop();
        await l.store.close();
      }
      tmp.cleanup();
    },
  };
}

/** A user with a workspace of their own, ready to hold keys. */
export async function seedOwner(
  ledger: Ledger,
  email = 'owner@example.com',
): Promise<{ userId: string; workspaceId: string }> {
  const u = await ledger.users.register({ email, name: 'Owner', password: 'correct horse battery staple' }, SYSTEM);
  const ws = await ledger.workspaces.create('Acme', u.id, SYSTEM);
  return { userId: u.id, workspaceId: ws.id };
}
