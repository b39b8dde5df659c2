// npm run bench:cluster — three token-ledger instances (`token-ledger serve` child processes) on one PostgreSQL
// database; each figure against its target and a baseline measured in the same run:
//   1. revoke on one instance → refused on the others: from the revoke call's response to the first 401 on the last
//      of the two other instances, which poll the key back to back (GET /v1/auth/me); p50, p99, max over
//      BENCH_REVOCATIONS revocations made in turn on each instance. Target p99 ≤ 50 ms. Baselines: PostgreSQL's own
//      NOTIFY → LISTEN, and one poll round trip (the resolution of the measurement).
//   2. durable key creation on PostgreSQL: Ledger.keys.create in this process on the PostgreSQL store, 64 in flight,
//      vs a raw INSERT of the same rows (one transaction per row, 64 in flight); and over HTTP on the three instances.
//   3. verify throughput (POST /v1/keys/verify under autocannon) on each instance alone vs one SQLite instance (the
//      mean of a run before and one after). Target ≥ ×0.90: verification never touches the store.
//
//   BENCH_REVOCATIONS=500  BENCH_KEYS=20000 (figure 2)  BENCH_HTTP_KEYS=3000  BENCH_SECONDS=8 (figure 3)
//   LEDGER_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres (the server the databases are created on)
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { PostgresEventStore } from '../events/store/postgres.js';
import { JwtService } from '../services/crypto/jwt.js';
import { newSigningKeyPem, signingKeyFromPem } from '../services/crypto/key-material.js';
import { Sealer } from '../services/crypto/sealing.js';
import { Ledger, SYSTEM } from '../services/ledger.js';
import {
  cleanEnv,
  fetchIdempotent,
  Cluster,
  launch,
  postgresUnreachable,
  waitReady,
  type Instance,
} from '../test/support/cluster.js';
import { freshDatabase } from '../test/support/postgres.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from '../test/support/server.js';
import { tempDir } from '../test/support/tmp.js';
import { figure, machine, misses } from './report.js';

const whole = (name: string, def: number, min: number): number => {
  const n = Number(process.env[name] ?? def);
  if (!Number.isInteger(n) || n < min) throw new TypeError(`${name} must be a whole number ≥ ${min}`);
  return n;
};
const REVOCATIONS = whole('BENCH_REVOCATIONS', 500, 10);
const CREATE_KEYS = whole('BENCH_KEYS', 20_000, 1000);
const HTTP_KEYS = Math.max(whole('BENCH_HTTP_KEYS', 3000, 100), REVOCATIONS + 20);
const SECONDS = whole('BENCH_SECONDS', 8, 1);
const WARMUP = 20;
const IN_FLIGHT = 64;
const SEEN_TIMEOUT_MS = 5000;
const CONNECTIONS = 32;
/** The same log level on every instance, SQLite or PostgreSQL (access logs off: the figures are the ledger's). */
const LOG_LEVEL = 'warn';

// ------------------------------------------------------------------ output

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const fix = (n: number, d = 2): string => n.toFixed(d);
const ms = (v: number): string => `${fix(v, v < 10 ? 2 : 1)} ms`;

interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

const spread = (st: Stats): string => `p50 ${ms(st.p50)}, p99 ${ms(st.p99)}, max ${ms(st.max)} (n=${st.n})`;

function header(title: string): void {
  console.log(`\n${title}`);
  console.log(`  ${'figure'.padEnd(34)} ${'value'.padStart(18)}   ${'target'.padEnd(22)} verdict`);
}

// ------------------------------------------------------------------ HTTP

async function call(inst: Instance, method: string, path: string, token: string, body?: unknown): Promise<any> {
  const r = await inst.request(method, path, { token, ...(body === undefined ? {} : { body }) });
  if (r.status >= 300) throw new Error(`${method} ${path} on ${inst.name}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  return r.body;
}

/** Runs `count` jobs with `lanes` in flight; returns the seconds it took. */
async function lanes(count: number, inFlight: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await job(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** Waits until every instance's read model (as /readyz reports it) has reached the database's head. */
async function allCaughtUp(cluster: Cluster): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [row] = await cluster.query<{ p: string }>('SELECT max(position) AS p FROM ledger_events');
    const positions = await Promise.all(
      cluster.instances.map(async (i) => {
        const body = (await i.request('GET', '/readyz')).body as { checks: Array<{ name: string; detail?: any }> };
        return Number(body.checks.find((c) => c.name === 'read_model')?.detail?.position ?? -1);
      }),
    );
    if (positions.every((p) => p >= Number(row?.p))) return;
    if (Date.now() > deadline) throw new Error(`read models stuck at ${positions.join(', ')} (head ${row?.p})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ------------------------------------------------------------------ 1. revoke → refused on the others

/** Polls `token` on `inst` back to back; the time (performance.now) of its first 401, or null past the deadline. */
async function firstRefusal(inst: Instance, token: string, deadline: number): Promise<number | null> {
  for (;;) {
    const r = await fetchIdempotent(`${inst.url}/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    const t = performance.now();
    if (r.status === 401) return t;
    if (r.status !== 200) throw new Error(`GET /v1/auth/me on ${inst.name}: HTTP ${r.status}`);
    if (t > deadline) return null;
  }
}

async function notifyBaseline(url: string, n: number): Promise<Stats> {
  const listener = new pg.Client({ connectionString: url });
  const notifier = new pg.Client({ connectionString: url });
  await Promise.all([listener.connect(), notifier.connect()]);
  try {
    await listener.query('LISTEN bench_roundtrip');
    let waiting: ((t: number) => void) | null = null;
    listener.on('notification', () => waiting?.(performance.now()));
    const out: number[] = [];
    for (let i = 0; i < n + WARMUP; i++) {
      const arrived = new Promise<number>((resolve) => (waiting = resolve));
      const t0 = performance.now();
      await notifier.query(`NOTIFY bench_roundtrip, '${i}'`);
      const dt = (await arrived) - t0;
      if (i >= WARMUP) out.push(dt);
    }
    return stats(out);
  } finally {
    await Promise.all([listener.end(), notifier.end()]);
  }
}

async function pollBaseline(inst: Instance, token: string, n: number): Promise<Stats> {
  const out: number[] = [];
  for (let i = 0; i < n + WARMUP; i++) {
    const t0 = performance.now();
    const r = await fetchIdempotent(`${inst.url}/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    if (i >= WARMUP) out.push(performance.now() - t0);
  }
  return stats(out);
}

async function benchPropagation(
  cluster: Cluster,
  tokens: string[],
  keys: Array<{ id: string; token: string }>,
): Promise<void> {
  const insts = cluster.instances;
  const all: number[] = [];
  const revokeCalls: number[] = [];
  let early = 0;
  let missed = 0;
  for (let j = 0; j < REVOCATIONS + WARMUP; j++) {
    const key = keys[j]!;
    const at = j % insts.length;
    const others = insts.filter((_, i) => i !== at);
    const deadline = performance.now() + SEEN_TIMEOUT_MS;
    // Settled into values at once: a poll that fails while the revoke is in flight must not go unhandled.
    const polls = others.map((o) =>
      firstRefusal(o, key.token, deadline).then(
        (t) => ({ t }),
        (err: unknown) => ({ err }),
      ),
    );
    const t0 = performance.now();
    await call(insts[at]!, 'DELETE', `/v1/keys/${key.id}`, tokens[at]!);
    const tResponse = performance.now();
    const seen = (await Promise.all(polls)).map((p) => {
      if ('err' in p) throw p.err;
      return p.t;
    });
    if (j < WARMUP) continue;
    revokeCalls.push(tResponse - t0);
    if (seen.some((t) => t === null)) {
      missed++;
      continue;
    }
    const last = Math.max(...(seen as number[])) - tResponse;
    if (last < 0) early++;
    all.push(Math.max(0, last));
  }
  const st = stats(all);
  const notify = await notifyBaseline(cluster.db.url, REVOCATIONS);
  const poll = await pollBaseline(insts[1]!, keys[keys.length - 1]!.token, REVOCATIONS);
  header(
    `revoke on one instance → refused on both others (${REVOCATIONS} revocations in turn on each instance, after ${WARMUP} warm-up; from the revoke call's response)`,
  );
  figure(
    'revoke call itself (for scale)',
    `p99 ${ms(stats(revokeCalls).p99)}`,
    '',
    null,
    `  ${spread(stats(revokeCalls))}`,
  );
  figure(
    'refused on both others',
    `p99 ${ms(st.p99)}`,
    'p99 ≤ 50 ms',
    missed === 0 && st.n >= 500 && st.p99 <= 50,
    `  ${spread(st)}; ${early} refused before the response arrived (as 0 ms), ${missed} missed${st.n < 500 ? '; fewer than 500 revocations: set BENCH_REVOCATIONS=500' : ''}`,
  );
  figure(
    '  baseline: PG NOTIFY → LISTEN',
    `p99 ${ms(notify.p99)}`,
    '',
    null,
    `  ${spread(notify)}; ratio p50 ×${fix(st.p50 / notify.p50)}, p99 ×${fix(st.p99 / notify.p99)}`,
  );
  figure(
    '  baseline: one poll round trip',
    `p99 ${ms(poll.p99)}`,
    '',
    null,
    `  ${spread(poll)} (the measurement's resolution)`,
  );
}

// ------------------------------------------------------------------ 2. durable key creation

const COLUMNS = 'position, event_id, stream_id, revision, type, data, metadata';

/** Ledger.keys.create on the PostgreSQL store, IN_FLIGHT at a time, on a database of its own; then the raw baseline. */
async function benchCreate(): Promise<{ ledger: number; raw: number }> {
  const db = await freshDatabase('benchcreate');
  const store = await PostgresEventStore.open(db.url);
  const pool = new pg.Pool({ connectionString: db.url, max: IN_FLIGHT });
  try {
    const signing = await signingKeyFromPem(newSigningKeyPem());
    const ledger = new Ledger({
      store,
      sealer: new Sealer(Buffer.alloc(32, 1)),
      jwt: new JwtService(signing, { issuer: 'bench', audience: 'bench' }),
      expiryTimer: false,
      usageFlushMs: 0,
      log: () => undefined,
    });
    await ledger.start();
    const u = await ledger.users.register(
      { email: 'bench@example.com', name: 'Bench', password: ADMIN_PASSWORD },
      SYSTEM,
    );
    await ledger.workspaces.create('Bench', u.id, SYSTEM);
    const create = (i: number): Promise<unknown> =>
      ledger.keys.create(
        { userId: u.id, name: `k${i}`, expiresInSeconds: 86_400, scopes: i % 3 === 0 ? ['data:read'] : null },
        SYSTEM,
      );
    await lanes(200, IN_FLIGHT, (i) => create(-1 - i).then(() => undefined));
    const sec = await lanes(CREATE_KEYS, IN_FLIGHT, (i) => create(i).then(() => undefined));
    await ledger.stop();
    // The same rows, inserted bare: one INSERT per key, each its own (durable) transaction, as many in flight.
    const rows = (
      await pool.query<unknown[]>({
        text: `SELECT ${COLUMNS} FROM ledger_events WHERE type = 'ApiKeyCreated' ORDER BY position DESC LIMIT $1`,
        values: [CREATE_KEYS],
        rowMode: 'array',
      })
    ).rows;
    await pool.query('CREATE TABLE raw_events (LIKE ledger_events INCLUDING ALL)');
    const rawSec = await lanes(rows.length, IN_FLIGHT, async (i) => {
      await pool.query(`INSERT INTO raw_events (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, rows[i]);
    });
    return { ledger: CREATE_KEYS / sec, raw: rows.length / rawSec };
  } finally {
    await pool.end();
    await store.close();
    await db.drop();
  }
}

// ------------------------------------------------------------------ 3. verify throughput

function load(url: string, token: string, body: string): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${url}/v1/keys/verify`,
        method: 'POST',
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      },
      (err, res) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res)),
    );
  });
}

async function verifyRate(inst: Instance, verifier: string, token: string): Promise<number> {
  const r = await load(inst.url, verifier, JSON.stringify({ token }));
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${inst.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.average;
}

/** A verifier key (keys:verify) and a key to verify, made on `inst` by the admin. */
async function verifyPair(inst: Instance, token: string): Promise<{ verifier: string; token: string }> {
  const verifier = (await call(inst, 'POST', '/v1/keys', token, { name: 'verifier', scopes: ['keys:verify'] })) as {
    token: string;
  };
  const subject = (await call(inst, 'POST', '/v1/keys', token, { name: 'verified' })) as { token: string };
  return { verifier: verifier.token, token: subject.token };
}

async function startSqlite(): Promise<{ inst: Instance; stop: () => Promise<void> }> {
  const dir = tempDir('bench-cluster-sqlite');
  const l = launch(['serve'], {
    ...cleanEnv(),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL,
    LEDGER_DATA_DIR: dir.path,
    LEDGER_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    LEDGER_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  const stop = async (): Promise<void> => {
    l.proc.kill('SIGTERM');
    await l.exited;
    dir.cleanup();
  };
  try {
    return { inst: await waitReady('sqlite', dir.path, l), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function benchVerify(cluster: Cluster, tokens: string[]): Promise<void> {
  const pair = await verifyPair(cluster.instances[0]!, tokens[0]!);
  await allCaughtUp(cluster);
  const sqlite = await startSqlite();
  const rates = new Map<string, number>();
  let before: number;
  let after: number;
  try {
    const sqlitePair = await verifyPair(sqlite.inst, await sqlite.inst.login());
    before = await verifyRate(sqlite.inst, sqlitePair.verifier, sqlitePair.token);
    for (const inst of cluster.instances) rates.set(inst.name, await verifyRate(inst, pair.verifier, pair.token));
    after = await verifyRate(sqlite.inst, sqlitePair.verifier, sqlitePair.token);
  } finally {
    await sqlite.stop();
  }
  const baseline = (before + after) / 2;
  header(
    `verify throughput, POST /v1/keys/verify, each instance alone under autocannon (${CONNECTIONS} connections, ${SECONDS} s per run)`,
  );
  for (const [name, rate] of rates) {
    const ratio = rate / baseline;
    figure(
      `instance ${name} (PostgreSQL)`,
      `${int(rate)} req/s`,
      '≥ ×0.90 of SQLite',
      ratio >= 0.9,
      `  ×${fix(ratio)}`,
    );
  }
  figure(
    '  baseline: one SQLite instance',
    `${int(baseline)} req/s`,
    '',
    null,
    `  mean of a run before (${int(before)}) and after (${int(after)}) the cluster's`,
  );
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  console.log(
    `token-ledger cluster benchmark: three instances on PostgreSQL (BENCH_REVOCATIONS=${REVOCATIONS}, BENCH_KEYS=${CREATE_KEYS}, BENCH_HTTP_KEYS=${HTTP_KEYS}, BENCH_SECONDS=${SECONDS})`,
  );
  console.log(machine());
  const why = await postgresUnreachable();
  if (why !== null) throw new Error(why);
  const created = await benchCreate();
  // Production settings: key use is written every 10 s (the tests' cluster writes it every 50 ms).
  const cluster = await Cluster.start({ label: 'bench', env: { LOG_LEVEL, LEDGER_USAGE_FLUSH_MS: '10000' } });
  try {
    const [v] = await cluster.query<{ server_version: string }>('SHOW server_version');
    console.log(`PostgreSQL ${v?.server_version} on the same machine; LOG_LEVEL=${LOG_LEVEL} on every instance`);
    const insts = cluster.instances;
    const tokens = await Promise.all(insts.map((i) => i.login()));
    const keys: Array<{ id: string; token: string }> = [];
    const httpSec = await lanes(HTTP_KEYS, 48, async (i) => {
      const at = i % insts.length;
      const name = `p${i}-${randomBytes(2).toString('hex')}`;
      keys[i] = (await call(insts[at]!, 'POST', '/v1/keys', tokens[at]!, { name })) as { id: string; token: string };
    });
    header(`durable key creation on PostgreSQL (fsync on, synchronous_commit on)`);
    figure(
      `Ledger.keys.create, ${IN_FLIGHT} in flight`,
      `${int(created.ledger)} keys/s`,
      '',
      null,
      `  ${int(CREATE_KEYS)} keys, in this process on the PostgreSQL store; ×${fix(created.ledger / created.raw)} of the raw insert`,
    );
    figure(
      `  baseline: raw INSERT, ${IN_FLIGHT} in flight`,
      `${int(created.raw)} rows/s`,
      '',
      null,
      '  the same ApiKeyCreated rows, one transaction each, into a copy of the table',
    );
    figure(
      'POST /v1/keys on 3 instances',
      `${int(HTTP_KEYS / httpSec)} keys/s`,
      '',
      null,
      `  ${int(HTTP_KEYS)} keys, 48 in flight spread over the three; ×${fix(HTTP_KEYS / httpSec / created.raw)} of the raw insert`,
    );
    await allCaughtUp(cluster);
    await benchPropagation(cluster, tokens, keys);
    await benchVerify(cluster, tokens);
  } catch (err) {
    await new Promise((r) => setTimeout(r, 1000));
    for (const i of cluster.instances)
      if (!i.alive) console.error(`instance ${i.name} exited: ${JSON.stringify(await i.exited)}`);
    for (const i of cluster.instances)
      if (!i.alive || i.stderr() !== '')
        console.error(`instance ${i.name} at ${i.url} (alive: ${i.alive}): ${i.stderr()}\n${i.stdout().slice(-3000)}`);
    throw err;
  } finally {
    await cluster.dispose();
  }
  console.log(misses() === 0 ? '\nall targets met' : `\n${misses()} target(s) missed`);
}

await main();
