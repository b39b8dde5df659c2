// Tamper evidence: signed checkpoints over the hash chain, and verifyStore naming the exact position of a change.
// Each case edits a copy of a real data folder with better-sqlite3, as an attacker with file access would.
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, verify } from 'node:crypto';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { exportJWK } from 'jose';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkpointSigningInput } from '../../events/chain.js';
import { StoreUnavailableError } from '../../events/errors.js';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import type { EventStore, RecordedEvent } from '../../events/store/types.js';
import { SqliteAuditStore } from '../../projections/audit/sqlite-store.js';
import { Checkpointer } from '../../services/workers/checkpointer.js';
import type { AuditContext } from '../../services/audit/context.js';
import { AuditProjection } from '../../projections/audit/projection.js';
import { witnessFile } from '../../services/audit/cli.js';
import { verifyStore, type VerifyStoreResult } from '../../services/audit/verify-store.js';
import { loadConfig } from '../../services/config.js';
import { loadSigningKey, type SigningKey } from '../../services/crypto/key-material.js';
import { Metrics } from '../../services/metrics/registry.js';
import { SYSTEM } from '../../services/ledger.js';
import { createLogger } from '../../services/logger.js';
import { makeLedger, seedOwner, type TestLedger } from '../support/ledger.js';
import { tempDir } from '../support/tmp.js';

const MAIN = fileURLToPath(new URL('../../services/cli/main.js', import.meta.url));
const MASTER_KEY = Buffer.alloc(32, 9).toString('base64');
const run = promisify(execFile);

interface Audited {
  t: TestLedger;
  key: SigningKey;
  db: SqliteAuditStore;
  projection: AuditProjection;
  checkpointer: Checkpointer;
  ctx: AuditContext;
  close(): Promise<void>;
}

/** A ledger with the audit projection and a checkpointer ticked by hand (no timers in tests). */
async function audited(every: number, dir?: string): Promise<Audited> {
  const t = await makeLedger(dir ? { dir } : {});
  const key = await loadSigningKey(t.dir); // written to signing-key.pem, as the CLI expects
  const db = SqliteAuditStore.open(join(t.dir, 'audit.db'), []);
  const projection = new AuditProjection(db, t.ledger.store, () => undefined);
  await projection.start();
  const config = loadConfig({ LEDGER_DATA_DIR: t.dir, LEDGER_CHECKPOINT_EVERY: String(every) });
  const ctx: AuditContext = {
    ledger: t.ledger,
    config,
    logger: createLogger('silent'),
    metrics: new Metrics(),
    signingKey: key,
    store: db,
    projection,
  };
  const checkpointer = new Checkpointer(ctx, { intervalMs: 3_600_000 });
  await checkpointer.start();
  return {
    t,
    key,
    db,
    projection,
    checkpointer,
    ctx,
    close: async () => {
      await checkpointer.stop();
      await projection.close();
      await db.close();
    },
  };
}

/** Lets the projection apply everything, then writes every due checkpoint. */
async function settle(a: Audited): Promise<void> {
  await a.t.ledger.usage.flush();
  await a.projection.caughtUp();
  await a.checkpointer.tick();
  await a.projection.caughtUp();
}

async function domainCount(a: Audited): Promise<number> {
  return (await allEvents(a.t.ledger.store)).filter((e) => e.type !== 'LedgerCheckpointed').length;
}

async function allEvents(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let after = -1;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    out.push(...page.events);
    after = page.lastPosition;
    if (page.isEnd) return out;
  }
}

/** A few hundred varied events: users, workspaces, members, keys created, used, rotated, revoked. */
async function populate(a: Audited): Promise<void> {
  const l = a.t.ledger;
  const { userId, workspaceId } = await seedOwner(l);
  const bob = await l.users.register(
    { email: 'bob@example.com', name: 'Bob', password: 'correct horse battery staple', workspaceId, role: 'member' },
    SYSTEM,
  );
  const ws2 = await l.workspaces.create('Second', bob.id, SYSTEM);
  await l.workspaces.setMemberRole(ws2.id, userId, 'auditor', SYSTEM);
  await settle(a);
  for (let round = 0; round < 8; round++) {
    const keys = [];
    for (let i = 0; i < 8; i++) {
      const owner = i % 2 === 0 ? userId : bob.id;
      keys.push(
        await l.keys.create(
          {
            userId: owner,
            name: `k${round}-${i}`,
            retrievable: i % 3 === 0,
            expiresInSeconds: i % 4 === 0 ? 86_400 : null,
          },
          SYSTEM,
        ),
      );
    }
    for (const [i, k] of keys.entries()) {
      for (let n = 0; n <= i % 3; n++) {
        l.verifyAndRecord(k.token, n % 2 === 0 ? 'bearer' : 'api-key-header', { ip: `10.0.0.${n}` });
        await l.usage.flush();
      }
    }
    await l.keys.update(keys[1]!.key.id, { description: `round ${round}` }, SYSTEM);
    await l.keys.rotate(keys[2]!.key.id, 3600, SYSTEM);
    await l.keys.revoke(keys[3]!.key.id, 'leaked', SYSTEM);
    await l.keys.revoke(keys[4]!.key.id, null, SYSTEM);
    a.t.clock.advance(30);
    await settle(a);
  }
  await l.users.deactivate(bob.id, 'left', SYSTEM);
  await l.users.reactivate(bob.id, SYSTEM);
  await l.workspaces.create('Tail', userId, SYSTEM); // events after the last checkpoint, on purpose
  await a.projection.caughtUp();
}

describe('integration: tamper evidence', function () {
  this.timeout(60_000);

  describe('the checkpointer', () => {
    let a: Audited;
    afterEach(async () => {
      await a.close();
      await a.t.dispose();
    });

    it('checkpoints every 10th event with a valid signature, and a restart does not duplicate them', async () => {
      a = await audited(10);
      const { userId } = await seedOwner(a.t.ledger);
      const { key } = await a.t.ledger.keys.create({ userId, name: 'k' }, SYSTEM);
      // One event at a time, ticking after each, so checkpoint events interleave with the others as in production.
      for (let i = 0; (await domainCount(a)) < 35; i++) {
        await a.t.ledger.keys.update(key.id, { description: `d${i}` }, SYSTEM);
        await settle(a);
      }
      await a.checkpointer.tick(); // nothing more is due
      const log = await allEvents(a.t.ledger.store);
      const domain = log.filter((e) => e.type !== 'LedgerCheckpointed');
      const cps = log.filter((e) => e.type === 'LedgerCheckpointed');
      const expected = [domain[9]!, domain[19]!, domain[29]!].map((e) => e.position);
      expect(domain).to.have.length(35);
      expect(cps.map((e) => (e.data as { position: number }).position)).to.deep.equal(expected);
      for (const c of cps) {
        const d = c.data as { position: number; chain: string; at: string; kid: string; signature: string };
        expect(d.kid).to.equal(a.key.kid);
        expect(
          verify(null, checkpointSigningInput(d), a.key.publicKey, Buffer.from(d.signature, 'base64url')),
        ).to.equal(true);
        const m = c.metadata as { actor: { type: string }; eventId: string; occurredAt: string; schemaVersion: number };
        expect(m).to.include({ eventId: c.id, occurredAt: d.at, schemaVersion: 1 });
        expect(m.actor.type).to.equal('system');
        const row = a.db.db.db.prepare('SELECT chain FROM audit_events WHERE position = ?').get(d.position) as {
          chain: string;
        };
        expect(d.chain).to.equal(row.chain);
      }
      expect(a.checkpointer.status()).to.deep.include({ ok: true });

      // Restart on the same data: nothing new is due, so nothing is written twice.
      await a.checkpointer.stop();
      const again = new Checkpointer(a.ctx, { intervalMs: 3_600_000 });
      await again.start();
      await again.tick();
      await again.stop();
      expect((await allEvents(a.t.ledger.store)).filter((e) => e.type === 'LedgerCheckpointed')).to.have.length(3);
      expect((again.status().detail as { lastCheckpointPosition: number }).lastCheckpointPosition).to.equal(
        expected[2],
      );
    });

    it('checkpoints the head after checkpointSeconds when there are new events, and never its own checkpoints', async () => {
      a = await audited(1000);
      await seedOwner(a.t.ledger);
      await settle(a);
      expect((await allEvents(a.t.ledger.store)).some((e) => e.type === 'LedgerCheckpointed')).to.equal(false);
      a.t.clock.advance(60);
      await settle(a);
      const head = a.db.db.checkpoint.position;
      let cps = (await allEvents(a.t.ledger.store)).filter((e) => e.type === 'LedgerCheckpointed');
      expect(cps).to.have.length(1);
      expect((cps[0]!.data as { position: number }).position).to.equal(head - 1); // the head before the checkpoint itself
      a.t.clock.advance(600);
      await settle(a); // only the checkpoint event is new: no checkpoint of a checkpoint
      cps = (await allEvents(a.t.ledger.store)).filter((e) => e.type === 'LedgerCheckpointed');
      expect(cps).to.have.length(1);
    });

    it('adopts a checkpoint written by another process instead of writing the same position again', async () => {
      a = await audited(5);
      const { userId } = await seedOwner(a.t.ledger);
      for (let i = 0; i < 8; i++) await a.t.ledger.keys.create({ userId, name: `k${i}` }, SYSTEM);
      await a.projection.caughtUp();
      const other = new Checkpointer(a.ctx, { intervalMs: 3_600_000 });
      await other.start(); // both have read the (empty) checkpoint stream
      await other.tick();
      await a.checkpointer.tick(); // its append hits a concurrency error, re-reads, and finds nothing left to do
      await other.stop();
      const positions = (await allEvents(a.t.ledger.store))
        .filter((e) => e.type === 'LedgerCheckpointed')
        .map((e) => (e.data as { position: number }).position);
      expect(positions).to.have.length(2);
      expect(new Set(positions).size).to.equal(positions.length);
      expect(a.checkpointer.status()).to.deep.include({ ok: true });
      expect(a.checkpointer.status().detail).to.include({ written: 0, lastCheckpointPosition: positions[1] });
    });

    it('reports a failed append; retries a retriable one next tick; stops on a non-retriable one', async () => {
      a = await audited(3);
      await seedOwner(a.t.ledger);
      await a.projection.caughtUp();
      const store = a.t.ledger.store as { append: EventStore['append'] };
      const append = store.append.bind(store);
      store.append = () => Promise.reject(new StoreUnavailableError('busy', null, true));
      await a.checkpointer.tick();
      expect(a.checkpointer.status()).to.deep.include({ ok: true });
      expect((a.checkpointer.status().detail as { lastError: { code: string } }).lastError.code).to.equal(
        'STORE_UNAVAILABLE',
      );
      store.append = append;
      await a.checkpointer.tick();
      expect(a.checkpointer.status().detail).to.include({ written: 1, lastError: null });
      await a.t.ledger.keys.create({ userId: a.t.ledger.read.userByEmail('owner@example.com')!.id, name: 'x' }, SYSTEM);
      await a.t.ledger.keys.create({ userId: a.t.ledger.read.userByEmail('owner@example.com')!.id, name: 'y' }, SYSTEM);
      await a.t.ledger.keys.create({ userId: a.t.ledger.read.userByEmail('owner@example.com')!.id, name: 'z' }, SYSTEM);
      await a.projection.caughtUp();
      store.append = () => Promise.reject(new StoreUnavailableError('read-only', null, false));
      await a.checkpointer.tick();
      expect(a.checkpointer.status().ok).to.equal(false);
      store.append = append;
      await a.checkpointer.tick(); // stopped for good: nothing written
      expect(a.checkpointer.status().detail).to.include({ written: 1 });
    });
  });

  describe('verifyStore', () => {
    let base: ReturnType<typeof tempDir>;
    let log: RecordedEvent[];
    let key: SigningKey;
    let copies: Array<ReturnType<typeof tempDir>> = [];

    before(async () => {
      base = tempDir('tamper');
      const a = await audited(25, base.path);
      await populate(a);
      key = a.key;
      log = await allEvents(a.t.ledger.store);
      await a.close();
      await a.t.ledger.stop();
      await a.t.ledger.store.close(); // closing the last connection folds the WAL into the file
    });
    after(() => base.cleanup());
    afterEach(() => {
      for (const c of copies) c.cleanup();
      copies = [];
    });

    const cps = (): RecordedEvent[] => log.filter((e) => e.type === 'LedgerCheckpointed');
    const covered = (e: RecordedEvent): number => (e.data as { position: number }).position;

    /** A copy of the data folder; `witness: false` leaves audit.db out. */
    function copy(opts: { witness?: boolean } = {}): string {
      const c = tempDir('tamper-copy');
      copies.push(c);
      const files = ['ledger.db', 'signing-key.pem', ...(opts.witness === false ? [] : ['audit.db'])];
      for (const f of files)
        for (const suffix of ['', '-wal', '-shm'])
          if (existsSync(join(base.path, f + suffix)))
            copyFileSync(join(base.path, f + suffix), join(c.path, f + suffix));
      return c.path;
    }

    function tamper(dir: string, fn: (db: Database.Database) => void): void {
      const db = new Database(join(dir, 'ledger.db'));
      try {
        fn(db);
      } finally {
        db.close();
      }
    }

    async function check(dir: string, witness = true, window?: number): Promise<VerifyStoreResult> {
      const store = new SqliteEventStore(join(dir, 'ledger.db'));
      try {
        return await verifyStore(store, {
          publicKeys: [key.publicKey],
          ...(witness ? { auditDbFile: join(dir, 'audit.db') } : {}),
          pageSize: 37,
          window,
        });
      } finally {
        await store.close();
      }
    }

    it('builds a varied ledger with several checkpoints', () => {
      expect(log.length).to.be.greaterThan(200);
      expect(cps().length).to.be.greaterThan(5);
      const types = new Set(log.map((e) => e.type));
      for (const t of [
        'UserRegistered',
        'WorkspaceCreated',
        'WorkspaceMemberRoleSet',
        'ApiKeyCreated',
        'ApiKeyUsed',
        'ApiKeyRotated',
        'ApiKeyRevoked',
        'ApiKeyUpdated',
        'UserDeactivated',
      ])
        expect(types).to.include(t);
    });

    it('verifies the untouched ledger, with and without the witness, and with a JWK', async () => {
      const dir = copy();
      const r = await check(dir);
      expect(r).to.deep.include({
        ok: true,
        events: log.length,
        checkpoints: cps().length,
        lastPosition: log.at(-1)!.position,
      });
      expect((await check(dir, false)).ok).to.equal(true);
      const store = new SqliteEventStore(join(dir, 'ledger.db'));
      try {
        expect((await verifyStore(store, { publicKeys: [key.publicJwk] })).ok).to.equal(true);
      } finally {
        await store.close();
      }
    });

    it('(a) names an edited event: EDITED at its position', async () => {
      const dir = copy();
      const target = log.find((e) => e.type === 'ApiKeyRevoked')!;
      tamper(dir, (db) =>
        db
          .prepare("UPDATE events SET data = json_set(data, '$.reason', 'routine') WHERE position = ?")
          .run(target.position),
      );
      expect(await check(dir)).to.deep.include({
        ok: false,
        code: 'EDITED',
        position: target.position,
        checkedUpTo: target.position - 1,
      });
    });

    it('(b) names a deleted event: DELETED at its position', async () => {
      const dir = copy();
      const target = log.filter((e) => e.type === 'ApiKeyUsed')[5]!;
      tamper(dir, (db) => db.prepare('DELETE FROM events WHERE position = ?').run(target.position));
      expect(await check(dir)).to.deep.include({ ok: false, code: 'DELETED', position: target.position });
    });

    it('(c) names swapped events: REORDERED at the lower position', async () => {
      const dir = copy();
      const p = log[40]!;
      const q = log[47]!;
      tamper(dir, (db) =>
        db.transaction(() => {
          const set = db.prepare(
            'UPDATE events SET event_id = ?, stream_id = ?, revision = ?, type = ?, data = ?, metadata = ? WHERE position = ?',
          );
          const row = (pos: number) =>
            db.prepare('SELECT * FROM events WHERE position = ?').get(pos) as Record<string, string | number>;
          const rp = row(p.position);
          const rq = row(q.position);
          set.run('tmp', 'tmp', -1, 'tmp', '{}', '{}', p.position);
          set.run(rp.event_id, rp.stream_id, rp.revision, rp.type, rp.data, rp.metadata, q.position);
          set.run(rq.event_id, rq.stream_id, rq.revision, rq.type, rq.data, rq.metadata, p.position);
        })(),
      );
      expect(await check(dir)).to.deep.include({ ok: false, code: 'REORDERED', position: p.position });
    });

    it('(d) a checkpoint with a changed signature: CHECKPOINT_SIGNATURE_INVALID at the checkpoint', async () => {
      const dir = copy();
      const [first, second] = cps();
      const other = (first!.data as { signature: string }).signature; // a real signature, over something else
      tamper(dir, (db) =>
        db
          .prepare("UPDATE events SET data = json_set(data, '$.signature', ?) WHERE position = ?")
          .run(other, second!.position),
      );
      expect(await check(dir)).to.deep.include({
        ok: false,
        code: 'CHECKPOINT_SIGNATURE_INVALID',
        position: second!.position,
      });
      expect(await check(dir, false)).to.deep.include({
        ok: false,
        code: 'CHECKPOINT_SIGNATURE_INVALID',
        position: second!.position,
      });
    });

    it('(e) without the witness, an edit is caught by the next checkpoint: CHECKPOINT_MISMATCH with the range', async () => {
      const dir = copy({ witness: false });
      const all = cps();
      const target = log.find((e) => e.type === 'ApiKeyCreated' && e.position > covered(all[2]!))!;
      const next = all.find((c) => covered(c) >= target.position)!;
      const previous = [...all].reverse().find((c) => covered(c) < target.position)!;
      tamper(dir, (db) =>
        db
          .prepare("UPDATE events SET data = json_set(data, '$.name', 'renamed') WHERE position = ?")
          .run(target.position),
      );
      const r = await check(dir, false);
      expect(r).to.deep.include({
        ok: false,
        code: 'CHECKPOINT_MISMATCH',
        position: next.position,
        range: { after: covered(previous), upTo: covered(next) },
      });
      expect(target.position).to.be.greaterThan(covered(previous)).and.at.most(covered(next));
      // Same answer when the checkpoint's target has left the in-memory window and needs the second pass.
      expect(await check(dir, false, 2)).to.deep.include({
        ok: false,
        code: 'CHECKPOINT_MISMATCH',
        position: next.position,
      });
      const untouched = copy({ witness: false });
      expect((await check(untouched, false, 2)).ok).to.equal(true);
    });

    it('(f) LIMIT: without the witness, an edit after the last checkpoint is NOT detectable until the next checkpoint', async () => {
      const last = covered(cps().at(-1)!);
      const target = log.at(-1)!;
      expect(target.type).to.not.equal('LedgerCheckpointed');
      expect(target.position).to.be.greaterThan(last);
      const edit = (dir: string): void =>
        tamper(dir, (db) =>
          db
            .prepare(
              "UPDATE events SET data = json_set(data, '$.role', 'owner', '$.name', 'Renamed') WHERE position = ?",
            )
            .run(target.position),
        );
      const bare = copy({ witness: false });
      edit(bare);
      // Honest limit: nothing signed covers this event yet, so the recomputed chain has nothing to disagree with.
      expect((await check(bare, false)).ok).to.equal(true);
      // The witness still sees it.
      const witnessed = copy();
      edit(witnessed);
      expect(await check(witnessed)).to.deep.include({ ok: false, code: 'EDITED', position: target.position });
    });

    it('INSERTED: an event the witness never saw', async () => {
      const dir = copy();
      const target = log[60]!;
      tamper(dir, (db) =>
        db.prepare("UPDATE events SET event_id = 'forged-0000' WHERE position = ?").run(target.position),
      );
      expect(await check(dir)).to.deep.include({ ok: false, code: 'INSERTED', position: target.position });
    });

    it('DELETED at the end: the witness has events past the end of the log', async () => {
      const dir = copy();
      tamper(dir, (db) => db.prepare('DELETE FROM events WHERE position = ?').run(log.at(-1)!.position));
      expect(await check(dir)).to.deep.include({ ok: false, code: 'DELETED', position: log.at(-1)!.position });
    });

    it('audit verify --store: exit 0 with a summary, 1 naming the position, 2 on usage errors', async () => {
      const env = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, LEDGER_DATA_DIR: dir, LOG_LEVEL: 'silent' });
      const good = copy();
      const ok = await run(process.execPath, [MAIN, 'audit', 'verify', '--store'], { env: env(good) });
      expect(ok.stdout).to.match(
        new RegExp(`^OK: ${log.length} events, ${cps().length} checkpoints, chain [0-9a-f]{64}, witness audit.db\\n$`),
      );
      expect(ok.stderr).to.include('verify [');
      // The witness is whatever audit.db the data folder holds, also when the log lives in EventStoreDB.
      expect(
        witnessFile(
          loadConfig({
            LEDGER_DATA_DIR: good,
            LEDGER_EVENTSTORE_URL: 'esdb://127.0.0.1:1?tls=false',
            LEDGER_MASTER_KEY: MASTER_KEY,
          }),
        ),
      ).to.equal(join(good, 'audit.db'));
      const bare = copy({ witness: false });
      expect(
        witnessFile(
          loadConfig({
            LEDGER_DATA_DIR: bare,
            LEDGER_EVENTSTORE_URL: 'esdb://127.0.0.1:1?tls=false',
            LEDGER_MASTER_KEY: MASTER_KEY,
          }),
        ),
      ).to.equal(undefined);
      const unwitnessed = await run(process.execPath, [MAIN, 'audit', 'verify', '--store'], { env: env(bare) });
      expect(unwitnessed.stdout).to.match(/^OK: \d+ events, \d+ checkpoints, chain [0-9a-f]{64}\n$/);

      const bad = copy();
      const target = log.find((e) => e.type === 'ApiKeyCreated')!;
      tamper(bad, (db) =>
        db.prepare("UPDATE events SET data = json_set(data, '$.name', 'x') WHERE position = ?").run(target.position),
      );
      const failed = await run(process.execPath, [MAIN, 'audit', 'verify', '--store'], { env: env(bad) }).then(
        () => expect.fail('should exit 1'),
        (e: { code: number; stdout: string }) => e,
      );
      expect(failed.code).to.equal(1);
      expect(failed.stdout).to.match(new RegExp(`^FAIL at position ${target.position}: EDITED `));

      for (const args of [
        ['audit'],
        ['audit', 'verify'],
        ['audit', 'verify', '--bogus'],
        ['audit', 'verify', join(good, 'nope.jsonl')],
      ]) {
        const usage = await run(process.execPath, [MAIN, ...args], { env: env(good) }).then(
          () => expect.fail(`${args.join(' ')} should exit 2`),
          (e: { code: number }) => e,
        );
        expect(usage.code, args.join(' ')).to.equal(2);
      }
      // --jwks: the published key verifies; someone else's key does not; a broken file is a usage error.
      const jwks = join(good, 'jwks.json');
      writeFileSync(jwks, JSON.stringify({ keys: [key.publicJwk] }));
      expect(
        (await run(process.execPath, [MAIN, 'audit', 'verify', '--store', '--jwks', jwks], { env: env(good) })).stdout,
      ).to.match(/^OK: /);
      const stranger = { ...(await exportJWK(generateKeyPairSync('ed25519').publicKey)), kid: key.kid };
      writeFileSync(jwks, JSON.stringify({ keys: [stranger] }));
      const forged = await run(process.execPath, [MAIN, 'audit', 'verify', '--store', '--jwks', jwks], {
        env: env(good),
      }).then(
        () => expect.fail('a wrong key should exit 1'),
        (e: { code: number; stdout: string }) => e,
      );
      expect(forged.code).to.equal(1);
      expect(forged.stdout).to.match(/^FAIL at position \d+: CHECKPOINT_SIGNATURE_INVALID /);
      writeFileSync(jwks, '{"keys": [{"kty": "OKP"}]}');
      const broken = await run(process.execPath, [MAIN, 'audit', 'verify', '--store', '--jwks', jwks], {
        env: env(good),
      }).then(
        () => expect.fail('a broken JWKS should exit 2'),
        (e: { code: number }) => e,
      );
      expect(broken.code).to.equal(2);

      rmSync(join(good, 'signing-key.pem'));
      const noKey = await run(process.execPath, [MAIN, 'audit', 'verify', '--store'], { env: env(good) }).then(
        () => expect.fail('no key should exit 2'),
        (e: { code: number }) => e,
      );
      expect(noKey.code).to.equal(2);
    });
  });
});
