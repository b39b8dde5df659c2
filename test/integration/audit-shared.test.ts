// The audit read model shared by two in-process servers on one PostgreSQL database: what A writes is in an audit query
// on B; when A stops, B takes over the audit writer and the checkpointer, with no gap, no duplicate and one chain.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { LedgerError } from '../../events/errors.js';
import { PostgresEventStore } from '../../events/store/postgres.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { AuditProjection } from '../../projections/audit/projection.js';
import { PostgresAuditStore } from '../../projections/audit/postgres-store.js';
import { auditPlugin } from '../../services/audit/plugin.js';
import { verifyStore } from '../../services/audit/verify-store.js';
import type { JWK } from 'jose';
import { waitUntil } from '../support/async.js';
import { freshDatabase, terminateBackends, type TestDatabase } from '../support/postgres.js';
import { childrenRunning, running } from '../support/processes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';
import { flatten } from '../../projections/audit/flatten.js';
import { GENESIS_CHAIN } from '../../events/chain.js';

const MASTER_KEY = Buffer.alloc(32, 5).toString('base64');
const MAIN = fileURLToPath(new URL('../../services/cli/main.js', import.meta.url));

interface Check {
  name: string;
  ok: boolean;
  detail?: Record<string, unknown>;
}

async function checks(s: TestServer): Promise<Check[]> {
  return ((await s.request('GET', '/readyz')).body as { checks: Check[] }).checks;
}

async function auditWriter(s: TestServer): Promise<unknown> {
  return (await checks(s)).find((c) => c.name === 'audit_projection')?.detail?.writer;
}

async function checkpointsWritten(s: TestServer): Promise<number> {
  return Number((await checks(s)).find((c) => c.name === 'chain_checkpointer')?.detail?.written ?? 0);
}

async function allEvents(s: TestServer): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let after = -1; ;) {
    const p = await s.running.ledger.store.readAll({ after, maxCount: 1000 });
    out.push(...p.events);
    after = p.lastPosition;
    if (p.isEnd || p.events.length === 0) return out;
  }
}

/**
 * Once the writer has reached the end of `log`: every position of it exactly once in the audit tables, each with the
 * chain recomputed from the log itself; then `more` with the store.
 */
async function expectWholeTrail(
  url: string,
  log: readonly RecordedEvent[],
  more?: (store: PostgresAuditStore) => Promise<void>,
): Promise<void> {
  const store = await PostgresAuditStore.openExisting(url);
  if (store === null) throw new Error('no audit tables');
  try {
    await waitUntil(async () => (await store.state()).position >= log.at(-1)!.position, 10_000, 'the writer');
    const rows = await store.witnessRows(-1, log.at(-1)!.position, 100_000);
    expect(rows.map((r) => r.position)).to.deep.equal(log.map((e) => e.position));
    let chain = GENESIS_CHAIN;
    for (const [i, e] of log.entries()) {
      chain = flatten(e, chain).chain;
      expect(rows[i]!.chain, `position ${e.position}`).to.equal(chain);
    }
    await more?.(store);
  } finally {
    await store.close();
  }
}

/** The audit writer processes of the servers this test process runs. */
const writers = (): number[] => childrenRunning(process.pid, 'postgres-follower-worker');

describe('integration: the audit read model shared by two servers on one PostgreSQL database', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  const env = (id: string): Record<string, string> => ({
    LEDGER_DATABASE_URL: db.url,
    LEDGER_MASTER_KEY: MASTER_KEY,
    LEDGER_INSTANCE_ID: id,
    LEDGER_CHECKPOINT_EVERY: '5',
    LEDGER_CHECKPOINT_SECONDS: '1',
  });

  beforeEach(async () => {
    db = await freshDatabase('auditshared');
    a = await startTestServer(env('a'), [auditPlugin()]);
    // A starts first and takes the audit writer's lease; B then serves queries from the tables A writes.
    await waitUntil(async () => (await auditWriter(a)) === 'this instance', 10_000, 'A to hold the audit writer');
    b = await startTestServer(env('b'), [auditPlugin()]);
  });
  afterEach(async () => {
    await a?.dispose();
    await b?.dispose();
    await db.drop();
  });

  it('a key created and revoked on A is in an audit query on B', async () => {
    expect(await auditWriter(b)).to.equal('another instance');
    const tokenA = await a.login();
    const created = await a.request('POST', '/v1/keys', { token: tokenA, body: { name: 'shared' } });
    expect(created.status).to.equal(201);
    const keyId = created.body.id as string;
    expect((await a.request('DELETE', `/v1/keys/${keyId}`, { token: tokenA })).status).to.equal(200);
    const head = a.running.ledger.read.position;
    // B's read model follows the log; once it has seen A's revocation, one audit query on B holds it (no retry).
    await waitUntil(() => b.running.ledger.read.position >= head, 10_000, "B's read model to reach A's revocation");
    const tokenB = await b.login();
    const r = await b.request('GET', `/v1/audit?keyId=${keyId}&order=asc`, { token: tokenB });
    expect(r.status).to.equal(200);
    expect(r.body.items.map((i: { type: string }) => i.type)).to.deep.equal(['ApiKeyCreated', 'ApiKeyRevoked']);
    const history = await b.request('GET', `/v1/keys/${keyId}/history`, { token: tokenB });
    expect(history.status).to.equal(200);
    expect(history.body.events).to.have.length(2);
  });

  it('a writer process that is killed is replaced, and the trail goes on with no gap', async () => {
    const tokenA = await a.login();
    // Killed live, the lease holder starts a new writer; killed while first catching up, the lease may pass to B.
    const before = await a.request('GET', '/v1/audit?limit=1', { token: tokenA });
    expect(before.status).to.equal(200);
    const [killed, ...more] = writers();
    expect(more).to.deep.equal([]);
    process.kill(killed!, 'SIGKILL');
    await waitUntil(() => writers().some((pid) => pid !== killed), 15_000, 'a new writer process');
    const created = await a.request('POST', '/v1/keys', { token: tokenA, body: { name: 'after the kill' } });
    expect(created.status).to.equal(201);
    const r = await a.request('GET', `/v1/audit?keyId=${created.body.id as string}`, { token: tokenA });
    expect(r.body.items.map((i: { type: string }) => i.type)).to.deep.equal(['ApiKeyCreated']);
    await expectWholeTrail(db.url, await allEvents(a));
  });

  it('A stops: B takes over the writer and the checkpointer, with no gap, no duplicate and one checkpoint chain', async () => {
    const tokenA = await a.login();
    for (let i = 0; i < 12; i++)
      expect((await a.request('POST', '/v1/keys', { token: tokenA, body: { name: `a${i}` } })).status).to.equal(201);
    await waitUntil(async () => (await checkpointsWritten(a)) >= 2, 15_000, 'A to write checkpoints');
    expect(await checkpointsWritten(b)).to.equal(0);

    // Only the lease holder writes, from one writer process (off its request loop); a stop ends it.
    const [writerA, ...more] = writers();
    expect(writerA, "A's writer process").to.be.a('number');
    expect(more).to.deep.equal([]);
    await a.stop();
    expect(running(writerA!), "A's writer process after A stopped").to.equal(false);
    await waitUntil(async () => (await auditWriter(b)) === 'this instance', 10_000, 'B to take over the audit writer');
    await waitUntil(() => writers().length === 1, 10_000, "B's writer process");
    const tokenB = await b.login();
    const made: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await b.request('POST', '/v1/keys', { token: tokenB, body: { name: `b${i}` } });
      expect(r.status).to.equal(201);
      made.push(r.body.id as string);
    }
    const last = await b.request('GET', `/v1/audit?keyId=${made.at(-1)!}`, { token: tokenB });
    expect(last.body.items.map((i: { type: string }) => i.type)).to.deep.equal(['ApiKeyCreated']);
    await waitUntil(async () => (await checkpointsWritten(b)) >= 2, 15_000, 'B to write checkpoints');

    const log = await allEvents(b);
    await expectWholeTrail(db.url, log, async (store) => {
      // One checkpoint chain: consecutive revisions, each covering a later position, all matching the log.
      const cps = log.filter((e) => e.type === 'LedgerCheckpointed');
      expect(cps.length).to.be.greaterThanOrEqual(4);
      expect(cps.map((e) => e.revision)).to.deep.equal(cps.map((_, i) => i));
      const covered = cps.map((e) => (e.data as { position: number }).position);
      expect(covered).to.deep.equal([...covered].sort((x, y) => x - y));
      expect(new Set(covered).size).to.equal(covered.length);
      const jwks = (await b.request('GET', '/.well-known/jwks.json')).body.keys as JWK[];
      const verified = await verifyStore(b.running.ledger.store, { publicKeys: jwks, witness: store });
      expect(verified).to.deep.include({ ok: true, witnessed: true });
      // B keeps checkpointing meanwhile (every second): at least those read above.
      expect((verified as { checkpoints: number }).checkpoints).to.be.greaterThanOrEqual(cps.length);
    });
  });
});

describe('integration: audit writers overlapping on one PostgreSQL database', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  beforeEach(async () => {
    db = await freshDatabase('auditoverlap');
  });
  afterEach(async () => {
    await db.drop();
  });

  it('two writers at once, and every connection cut mid-way, still leave each position once with the right chain', async () => {
    const events = await PostgresEventStore.open(db.url, { pollIntervalMs: 50 });
    const stores = [await PostgresAuditStore.open(db.url), await PostgresAuditStore.open(db.url)];
    const errors: string[] = [];
    // Both believe they hold the lease (one has not yet noticed it lost it): the stored checkpoint's lock serializes them.
    const writers = stores.map(
      (s) =>
        new AuditProjection(s, events, (msg, err) =>
          errors.push(`${msg}: ${err instanceof Error ? err.message : String(err)}`),
        ),
    );
    const append = async (i: number): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const id = randomUUID();
          await events.append(`user-usr_${i % 9}`, [
            {
              id,
              type: 'UserLoginFailed',
              data: { userId: `usr_${i % 9}` },
              metadata: {
                eventId: id,
                occurredAt: new Date(1e12 + i).toISOString(),
                actor: { type: 'system', id: 'system' },
                request: {},
              },
            },
          ]);
          return;
        } catch (err) {
          // A cut connection: the append may be tried again (and is idempotent by event id; here a new one is fine).
          if (!(err instanceof LedgerError && err.retriable) || attempt > 20) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    try {
      await Promise.all(writers.map((w) => w.open()));
      await Promise.all(writers.map((w) => w.start()));
      for (let i = 0; i < 150; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => append(i + j)));
      // Cut every connection to the database (what a failover or an operator does); the writers resume on their own.
      await terminateBackends(db.name);
      for (let i = 150; i < 300; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => append(i + j)));
      const head = await events.headPosition();
      await Promise.all(writers.map((w) => w.caughtUp(head)));
      const log: RecordedEvent[] = [];
      for (let after = -1; ;) {
        const p = await events.readAll({ after, maxCount: 1000 });
        log.push(...p.events);
        after = p.lastPosition;
        if (p.isEnd || p.events.length === 0) break;
      }
      expect(log).to.have.length(300);
      const rows = await stores[0]!.witnessRows(-1, head, 1000);
      expect(rows.map((r) => r.position)).to.deep.equal(log.map((e) => e.position));
      let chain = GENESIS_CHAIN;
      for (const [i, e] of log.entries()) {
        chain = flatten(e, chain).chain;
        expect(rows[i]!.chain, `position ${e.position}`).to.equal(chain);
      }
      expect(
        writers.every((w) => w.failed === null),
        errors.join('; '),
      ).to.equal(true);
    } finally {
      for (const w of writers) await w.close();
      for (const s of stores) await s.close();
      await events.close();
    }
  });
});

describe('integration: rebuild and audit verify --store on a PostgreSQL ledger', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let dir: { path: string; cleanup: () => void };
  beforeEach(async () => {
    db = await freshDatabase('auditcli');
    dir = tempDir('audit-cli');
  });
  afterEach(async () => {
    await db.drop();
    dir.cleanup();
  });

  const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) =>
      execFile(
        process.execPath,
        [MAIN, ...args],
        {
          env: {
            ...process.env,
            LEDGER_DATABASE_URL: db.url,
            LEDGER_MASTER_KEY: MASTER_KEY,
            LEDGER_DATA_DIR: dir.path,
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      ),
    );

  it('verifies the log with the audit tables as witness, rebuilds them, and names an edited position', async () => {
    const s = await startTestServer(
      { LEDGER_DATABASE_URL: db.url, LEDGER_MASTER_KEY: MASTER_KEY, LEDGER_CHECKPOINT_EVERY: '5' },
      [auditPlugin()],
    );
    let last: number;
    try {
      const token = await s.login();
      for (let i = 0; i < 12; i++)
        expect((await s.request('POST', '/v1/keys', { token, body: { name: `k${i}` } })).status).to.equal(201);
      await waitUntil(async () => (await checkpointsWritten(s)) >= 2, 15_000, 'checkpoints');
      last = s.running.ledger.read.position;
      await waitUntil(
        async () => Number((await checks(s)).find((c) => c.name === 'audit_projection')?.detail?.position) >= last,
        10_000,
        'the audit tables',
      );
    } finally {
      await s.dispose();
    }
    const ok = await cli('audit', 'verify', '--store');
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^OK: \d+ events, \d+ checkpoints, chain [0-9a-f]{64}, witness the audit tables\n$/);
    const rebuilt = await cli('rebuild');
    expect(rebuilt.code, rebuilt.stderr).to.equal(0);
    expect(rebuilt.stdout).to.match(/^audit trail rebuilt from \d+ events \(chain [0-9a-f]{16}…\)$/m);
    expect((await cli('audit', 'verify', '--store')).stdout).to.equal(ok.stdout);
    // An attacker with write access to the database edits one event's data: the witness names the position.
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const r = await c.query<{ position: string }>(
        "UPDATE ledger_events SET data = replace(data, '\"k7\"', '\"k8\"') WHERE type = 'ApiKeyCreated' AND data LIKE '%\"k7\"%' RETURNING position",
      );
      expect(r.rowCount).to.equal(1);
      const edited = await cli('audit', 'verify', '--store');
      expect(edited.code).to.equal(1);
      expect(edited.stdout).to.match(new RegExp(`^FAIL at position ${r.rows[0]!.position}: EDITED `));
    } finally {
      await c.end();
    }
  });
});
