// Audit benchmark: export throughput and server memory, p99 of filtered audit queries, and validAt over 100k keys,
// each against its target and a baseline measured in the same run. `npm run bench:audit`; AUDIT_BENCH_EVENTS=100000
// for a quick run (default 1,000,000). The dataset is written through the ledger's own append path into a real data
// folder (users and workspaces by real commands, then ~N events with SqliteEventStore.append in large group commits);
// the real server then runs in a child process, where the audit projection catches up before anything is measured.
// AUDIT_BENCH_PG=1 runs the same on PostgreSQL: the log is copied into a fresh database (same positions), the server
// runs with LEDGER_DATABASE_URL (audit tables in that database), and the baselines are raw PostgreSQL reads.
import Database from 'better-sqlite3';
import pg from 'pg';
import { spawnListening, type Child } from './child.js';
import { copyToPostgres } from './pg-copy.js';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import { fileURLToPath } from 'node:url';
import { schemaVersionOf, streams } from '../events/catalog.js';
import { SYSTEM_ACTOR } from '../events/metadata.js';
import { SqliteEventStore } from '../events/store/sqlite.js';
import type { NewEvent } from '../events/store/types.js';
import { auditWhere, parseAuditFilters } from '../services/audit/filters.js';
import { Params } from '../projections/audit/where.js';
import { auditDbFile } from '../services/audit/plugin.js';
import { bootstrapAdmin } from '../services/bootstrap.js';
import { loadConfig } from '../services/config.js';
import { SYSTEM } from '../services/ledger.js';
import { openLedger } from '../services/open-ledger.js';
import { idOf, prng } from '../test/support/prng.js';
import type { TestDatabase } from '../test/support/postgres.js';
import { tempDir } from '../test/support/tmp.js';
import { figure, machine, misses } from './report.js';

const EVENTS = Number(process.env.AUDIT_BENCH_EVENTS ?? 1_000_000);
/** The audit tables in PostgreSQL instead of audit.db (and the log there too). */
const PG = process.env.AUDIT_BENCH_PG === '1';
const RAW = PG ? 'raw PostgreSQL' : 'raw SQLite';
if (!(Number.isInteger(EVENTS) && EVENTS >= 10_000))
  throw new TypeError('AUDIT_BENCH_EVENTS must be a whole number ≥ 10000');
/** Keys of the big workspace validAt is measured on: 100,000 at 1M events. */
const BIG_WS_KEYS = Math.round(EVENTS / 10);
const OTHER_KEYS = Math.round(EVENTS / 50);
const USERS = 40;
const WORKSPACES = 8;
const QUERY_SAMPLES = 200;
const VALIDAT_SAMPLES = 12;
const PASSWORD = 'bench password, long enough';
const ADMIN_EMAIL = 'admin@bench.test';
const AUDITOR_EMAIL = 'auditor@bench.test';
const DAY = 86_400_000;
const SPAN = 365 * DAY;

// ------------------------------------------------------------------ output

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const fix = (n: number, d = 2): string => n.toFixed(d);
const mb = (bytes: number): string => `${fix(bytes / 2 ** 20, 1)} MB`;
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
const sortedCopy = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

// ------------------------------------------------------------------ dataset

interface World {
  dir: string;
  t0: number;
  tEnd: number;
  adminId: string;
  wsIds: string[];
  userIds: string[];
  keyIds: string[];
  digests: string[];
  events: number;
}

/** A set with O(1) add, remove and random pick (the keys that can still be used). */
class Pool {
  private readonly items: string[] = [];
  private readonly at = new Map<string, number>();
  add(x: string): void {
    if (this.at.has(x)) return;
    this.at.set(x, this.items.length);
    this.items.push(x);
  }
  remove(x: string): void {
    const i = this.at.get(x);
    if (i === undefined) return;
    const last = this.items.pop()!;
    this.at.delete(x);
    if (last !== x) {
      this.items[i] = last;
      this.at.set(last, i);
    }
  }
  pick(rnd: () => number): string | undefined {
    return this.items[Math.floor(rnd() * this.items.length)];
  }
  get size(): number {
    return this.items.length;
  }
}

type Due = { at: number; keyId: string; reason: 'ttl' | 'rotated' };

/** Due times queued in order: one queue per fixed delay keeps each queue sorted without a heap. */
class DueQueues {
  private readonly queues = new Map<string, Due[]>();
  push(delayMs: number, d: Due): void {
    const name = `${d.reason}:${delayMs}`;
    const q = this.queues.get(name) ?? [];
    q.push(d);
    this.queues.set(name, q);
  }
  /** Every entry due at or before `now`, oldest first. */
  takeDue(now: number): Due[] {
    const out: Due[] = [];
    for (const q of this.queues.values()) {
      let n = 0;
      while (n < q.length && q[n]!.at <= now) n++;
      if (n > 0) out.push(...q.splice(0, n));
    }
    return out.sort((a, b) => a.at - b.at);
  }
}

function randomUuid(rnd: () => number): string {
  let h = '';
  for (let i = 0; i < 32; i++) h += Math.floor(rnd() * 16).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

const USER_AGENTS = [
  'curl/8.5.0',
  'python-requests/2.31.0',
  'Go-http-client/1.1',
  'token-ledger-sdk/1.4 (node 20)',
  'Mozilla/5.0 (X11; Linux x86_64)',
];
const PRESENTATIONS = ['bearer', 'bearer', 'bearer', 'api-key', 'apitoken', 'api-key-header', 'url'] as const;

/** Users and workspaces through the real commands (argon2 hashes, claims, memberships), on a clock set to t0. */
async function population(
  dir: string,
  t0: number,
): Promise<{ adminId: string; wsIds: string[]; userIds: string[]; members: Map<string, string[]> }> {
  const config = loadConfig({
    LEDGER_DATA_DIR: dir,
    LEDGER_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    LEDGER_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
  });
  let now = t0;
  const { ledger } = await openLedger(config, { clock: () => new Date(now), expiryTimer: false, usageFlushMs: 0 });
  const tick = (): void => void (now += 1000);
  try {
    await ledger.start();
    await bootstrapAdmin(ledger, config, () => undefined);
    const admin = [...ledger.read.users()].find((u) => u.email === ADMIN_EMAIL)!;
    const userIds: string[] = [];
    for (let i = 0; i < USERS; i++) {
      tick();
      userIds.push(
        (await ledger.users.register({ email: `user${i}@bench.test`, name: `User ${i}`, password: PASSWORD }, SYSTEM))
          .id,
      );
    }
    const wsIds: string[] = [];
    const members = new Map<string, string[]>();
    for (let w = 0; w < WORKSPACES; w++) {
      tick();
      const owner = userIds[w]!;
      const ws = (await ledger.workspaces.create(w === 0 ? 'bench (100k keys)' : `team ${w}`, owner, SYSTEM)).id;
      wsIds.push(ws);
      // Everyone works in the big workspace; each team has a handful of members.
      const ms = w === 0 ? userIds : userIds.filter((_, i) => i % WORKSPACES === w || i === w);
      for (const u of ms)
        if (u !== owner)
          await ledger.workspaces.setMemberRole(ws, u, w === 0 && u === userIds[1] ? 'admin' : 'member', SYSTEM);
      members.set(ws, ms);
    }
    tick();
    await ledger.users.register(
      { email: AUDITOR_EMAIL, name: 'Auditor', password: PASSWORD, workspaceId: wsIds[0]!, role: 'auditor' },
      SYSTEM,
    );
    return { adminId: admin.id, wsIds, userIds, members };
  } finally {
    await ledger.stop();
    await ledger.store.close();
  }
}

/**
 * The bulk of the history, appended in time order through SqliteEventStore.append (5,000 appends per group commit):
 * keys created, used (most events), renamed, revealed, rotated with grace, revoked and expired when due; logins;
 * now and then an owner deactivated for a week or a member removed and re-added.
 */
async function history(
  dir: string,
  pop: Awaited<ReturnType<typeof population>>,
  t0: number,
  startEvents: number,
): Promise<{ keyIds: string[]; digests: string[]; events: number }> {
  const store = new SqliteEventStore(`${dir}/ledger.db`);
  const rnd = prng(5);
  const bigWs = pop.wsIds[0]!;
  const live = new Pool();
  const revealable = new Pool();
  const keyInfo = new Map<
    string,
    { ws: string; owner: string; ttlDays: number | null; phase: 'live' | 'grace' | 'ended' }
  >();
  const keyIds: string[] = [];
  const digests: string[] = [];
  const due = new DueQueues();
  const inactive = new Map<string, number>(); // user → reactivation time
  const removed: Array<{ at: number; ws: string; user: string }> = [];
  let written = startEvents;
  let createdBig = 0;
  let createdOther = 0;
  let wave: Array<Promise<unknown>> = [];
  let now = t0;

  const meta = (
    type: string,
    actor: { type: string; id: string },
    causationId: string | null = null,
    ua = true,
  ): unknown => {
    const requestId = idOf(rnd, 'req');
    return {
      eventId: '',
      occurredAt: new Date(now).toISOString(),
      actor,
      request: ua
        ? {
            ip: `10.${Math.floor(rnd() * 8)}.${Math.floor(rnd() * 250)}.${1 + Math.floor(rnd() * 250)}`,
            userAgent: USER_AGENTS[Math.floor(rnd() * 5)]!,
            requestId,
          }
        : {},
      correlationId: requestId,
      causationId,
      schemaVersion: schemaVersionOf(type),
    };
  };
  const put = async (streamId: string, type: string, data: unknown, metadata: unknown): Promise<void> => {
    const id = randomUuid(rnd);
    (metadata as { eventId: string }).eventId = id;
    const e: NewEvent = { id, type, data, metadata };
    wave.push(store.append(streamId, [e], 'any'));
    written++;
    if (wave.length >= 5000) {
      await Promise.all(wave);
      wave = [];
    }
  };
  const createKey = async (
    ws: string,
    owner: string,
    rotatedFrom: string | null,
    ttlDays: number | null,
    keyId = idOf(rnd, 'key'),
  ): Promise<string> => {
    const token = `tl_${idOf(rnd, 'x').slice(2)}${idOf(rnd, 'y').slice(2)}`;
    const digest = createHash('sha256').update(token).digest('hex');
    const retrievable = rnd() < 0.1;
    const expiresAt = ttlDays === null ? null : now + ttlDays * DAY;
    await put(
      streams.apiKey(keyId),
      'ApiKeyCreated',
      {
        keyId,
        userId: owner,
        workspaceId: ws,
        name: `service key ${keyIds.length}`,
        description: rnd() < 0.2 ? 'deploys from CI' : null,
        handle: null,
        alias: null,
        scopes: rnd() < 0.3 ? ['data:read', 'data:write'] : null,
        format: 'opaque',
        digest,
        start: token.slice(0, 7),
        expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        sealed: retrievable
          ? {
              alg: 'A256GCM',
              kid: 'mk1',
              iv: idOf(rnd, 'iv').slice(3, 19),
              ct: idOf(rnd, 'ct').slice(3),
              tag: idOf(rnd, 't').slice(2, 24),
            }
          : null,
        rotatedFrom,
      },
      meta('ApiKeyCreated', { type: 'user', id: owner }, rotatedFrom),
    );
    keyIds.push(keyId);
    digests.push(digest);
    keyInfo.set(keyId, { ws, owner, ttlDays, phase: 'live' });
    live.add(keyId);
    if (retrievable) revealable.add(keyId);
    if (expiresAt !== null) due.push(ttlDays! * DAY, { at: expiresAt, keyId, reason: 'ttl' });
    return keyId;
  };
  const end = (keyId: string, phase: 'grace' | 'ended'): void => {
    keyInfo.get(keyId)!.phase = phase;
    live.remove(keyId);
    revealable.remove(keyId);
  };
  const memberOf = (ws: string): string[] => pop.members.get(ws)!;

  const total = EVENTS;
  for (let step = 0; written < total; step++) {
    now = t0 + Math.floor(((written - startEvents) / (total - startEvents)) * SPAN);
    for (const d of due.takeDue(now)) {
      const phase = keyInfo.get(d.keyId)!.phase;
      // A TTL ends a live key or one in rotation grace; a grace end only a rotated key; nothing ends a key twice.
      if (phase === 'ended' || (d.reason === 'rotated' && phase !== 'grace')) continue;
      end(d.keyId, 'ended');
      await put(
        streams.apiKey(d.keyId),
        'ApiKeyExpired',
        { keyId: d.keyId, expiredAt: new Date(d.at).toISOString(), reason: d.reason },
        meta('ApiKeyExpired', SYSTEM_ACTOR, null, false),
      );
    }
    for (const [u, back] of inactive)
      if (back <= now) {
        inactive.delete(u);
        await put(
          streams.user(u),
          'UserReactivated',
          { userId: u },
          meta('UserReactivated', { type: 'user', id: pop.adminId }),
        );
      }
    while (removed.length > 0 && removed[0]!.at <= now) {
      const r = removed.shift()!;
      await put(
        streams.workspace(r.ws),
        'WorkspaceMemberRoleSet',
        { workspaceId: r.ws, userId: r.user, role: 'member' },
        meta('WorkspaceMemberRoleSet', { type: 'user', id: pop.adminId }),
      );
    }
    // Key creation is spread evenly over the history, so the big workspace ends with exactly BIG_WS_KEYS keys.
    const progress = (written - startEvents + 1) / (total - startEvents);
    if (createdBig < BIG_WS_KEYS * progress) {
      createdBig++;
      const ms = memberOf(bigWs);
      await createKey(
        bigWs,
        ms[Math.floor(rnd() * ms.length)]!,
        null,
        [null, null, 30, 90, 180][Math.floor(rnd() * 5)]!,
      );
      continue;
    }
    if (createdOther < OTHER_KEYS * progress) {
      createdOther++;
      const ws = pop.wsIds[1 + Math.floor(rnd() * (WORKSPACES - 1))]!;
      const ms = memberOf(ws);
      await createKey(ws, ms[Math.floor(rnd() * ms.length)]!, null, [null, 7, 30][Math.floor(rnd() * 3)]!);
      continue;
    }
    const r = rnd();
    const keyId = live.pick(rnd);
    const info = keyId === undefined ? undefined : keyInfo.get(keyId);
    if (r < 0.02 && keyId && info) {
      end(keyId, 'ended');
      await put(
        streams.apiKey(keyId),
        'ApiKeyRevoked',
        { keyId, reason: rnd() < 0.5 ? 'leaked' : null, revokedBy: { type: 'user', id: info.owner } },
        meta('ApiKeyRevoked', { type: 'user', id: info.owner }),
      );
    } else if (r < 0.03 && keyId && info) {
      const grace = [0, 3600_000, DAY][Math.floor(rnd() * 3)]!;
      const successor = idOf(rnd, 'key');
      end(keyId, 'grace');
      await put(
        streams.apiKey(keyId),
        'ApiKeyRotated',
        { keyId, successorId: successor, graceEndsAt: new Date(now + grace).toISOString() },
        meta('ApiKeyRotated', { type: 'user', id: info.owner }),
      );
      due.push(grace, { at: now + grace, keyId, reason: 'rotated' });
      await createKey(info.ws, info.owner, keyId, info.ttlDays, successor);
    } else if (r < 0.04 && keyId) {
      await put(
        streams.apiKey(keyId),
        'ApiKeyUpdated',
        { keyId, name: `renamed ${step}` },
        meta('ApiKeyUpdated', { type: 'user', id: info!.owner }),
      );
    } else if (r < 0.045) {
      const k = revealable.pick(rnd);
      if (k)
        await put(
          streams.apiKey(k),
          'ApiKeySecretRevealed',
          { keyId: k },
          meta('ApiKeySecretRevealed', { type: 'user', id: keyInfo.get(k)!.owner }),
        );
    } else if (r < 0.075) {
      const u = pop.userIds[Math.floor(rnd() * USERS)]!;
      await put(
        streams.user(u),
        'UserLoginSucceeded',
        { userId: u, sessionId: idOf(rnd, 'ses'), expiresAt: new Date(now + 900_000).toISOString() },
        meta('UserLoginSucceeded', { type: 'user', id: u }),
      );
    } else if (r < 0.08) {
      const i = Math.floor(rnd() * USERS);
      await put(
        streams.user(pop.userIds[i]!),
        'UserLoginFailed',
        { userId: pop.userIds[i]!, email: `user${i}@bench.test`, reason: 'bad_password' },
        meta('UserLoginFailed', SYSTEM_ACTOR),
      );
    } else if (r < 0.0801) {
      const u = pop.userIds[2 + Math.floor(rnd() * (USERS - 2))]!;
      if (inactive.has(u)) continue;
      inactive.set(u, now + 7 * DAY);
      await put(
        streams.user(u),
        'UserDeactivated',
        { userId: u, reason: 'on leave' },
        meta('UserDeactivated', { type: 'user', id: pop.adminId }),
      );
    } else if (r < 0.0802) {
      const ws = pop.wsIds[Math.floor(rnd() * WORKSPACES)]!;
      const ms = memberOf(ws).slice(1);
      const u = ms[Math.floor(rnd() * ms.length)];
      if (u === undefined || removed.some((x) => x.ws === ws && x.user === u)) continue;
      removed.push({ at: now + 3 * DAY, ws, user: u });
      await put(
        streams.workspace(ws),
        'WorkspaceMemberRemoved',
        { workspaceId: ws, userId: u },
        meta('WorkspaceMemberRemoved', { type: 'user', id: pop.adminId }),
      );
    } else if (keyId && info) {
      const count = 1 + Math.floor(rnd() * 40);
      const presentation = PRESENTATIONS[Math.floor(rnd() * PRESENTATIONS.length)]!;
      const ip = `10.${Math.floor(rnd() * 8)}.${Math.floor(rnd() * 250)}.${1 + Math.floor(rnd() * 250)}`;
      const ua = USER_AGENTS[Math.floor(rnd() * 5)]!;
      await put(
        streams.apiKey(keyId),
        'ApiKeyUsed',
        {
          keyId,
          count,
          firstAt: new Date(now - 10_000).toISOString(),
          lastAt: new Date(now).toISOString(),
          lastIp: ip,
          lastUserAgent: ua,
          presentation,
          presentations: { [presentation]: count },
        },
        {
          eventId: '',
          occurredAt: new Date(now).toISOString(),
          actor: { type: 'key', id: keyId },
          request: { ip, userAgent: ua },
          correlationId: randomUuid(rnd),
          causationId: null,
          schemaVersion: schemaVersionOf('ApiKeyUsed'),
        },
      );
    }
  }
  await Promise.all(wave);
  await store.close();
  return { keyIds, digests, events: written };
}

async function buildWorld(dir: string): Promise<World> {
  const tEnd = Date.now() - 3600_000;
  const t0 = tEnd - SPAN;
  const pop = await population(dir, t0);
  const startStore = new SqliteEventStore(`${dir}/ledger.db`);
  const start = await startStore.headPosition();
  await startStore.close();
  const h = await history(dir, pop, t0, start);
  return {
    dir,
    t0,
    tEnd,
    adminId: pop.adminId,
    wsIds: pop.wsIds,
    userIds: pop.userIds,
    keyIds: h.keyIds,
    digests: h.digests,
    events: h.events,
  };
}

// ------------------------------------------------------------------ child processes

/** Baseline server: a raw SQLite scan of audit_events written line by line to a bare node:http response, with backpressure. */
function baselineServer(file: string): void {
  const db = new Database(file, { readonly: true });
  const scan = db.prepare('SELECT position, prev_chain, chain, event FROM audit_events ORDER BY position').raw(true);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const rows = scan.iterate() as IterableIterator<[number, string, string, string]>;
    // next() by hand: leaving a for…of early would close the statement's iterator.
    const pump = (): void => {
      for (let r = rows.next(); !r.done; r = rows.next()) {
        const [p, prev, chain, event] = r.value;
        if (!res.write(`{"position":${p},"prevChain":"${prev}","chain":"${chain}","event":${event}}\n`))
          return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address() as { port: number };
    process.stdout.write(`baseline listening on http://127.0.0.1:${a.port}\n`);
  });
}

/** The same baseline on PostgreSQL: keyset pages of stored lines written to a bare node:http response. */
function baselineServerPg(url: string): void {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const page = async (after: string): Promise<void> => {
      const r = await pool.query<{ position: string; line: string }>(
        'SELECT position, line FROM audit_events WHERE position > $1 ORDER BY position LIMIT 5000',
        [after],
      );
      for (const row of r.rows) res.write(row.line);
      if (r.rows.length === 0) return void res.end();
      const next = (): void => void page(r.rows[r.rows.length - 1]!.position);
      if (res.writableNeedDrain) res.once('drain', next);
      else next();
    };
    void page('-1');
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address() as { port: number };
    process.stdout.write(`baseline listening on http://127.0.0.1:${a.port}\n`);
  });
}

/** The bare baselines run in this process: the audit store's own SQL, without HTTP, auth or JSON. */
interface Bare {
  /** The listing's SELECT for these filters (and a newest-first cursor), LIMIT 101. */
  list(filters: ReturnType<typeof parseAuditFilters>, scope: string[] | null, cursor: number | null): Promise<void>;
  keysOf(ws: string): Promise<number>;
  /** Every key of the workspace with the answer's columns. */
  rawKeys(ws: string): Promise<void>;
  close(): Promise<void>;
}

function bareSqlite(file: string): Bare {
  const db = new Database(file, { readonly: true });
  return {
    list: (filters, scope, cursor) => {
      const where = auditWhere(filters, scope);
      const sql = `SELECT * FROM audit_events WHERE ${where.sql}${cursor !== null ? ' AND position < ?' : ''} ORDER BY position DESC LIMIT 101`;
      db.prepare(sql).all(...where.params, ...(cursor !== null ? [cursor] : []));
      return Promise.resolve();
    },
    keysOf: (ws) =>
      Promise.resolve(db.prepare('SELECT COUNT(*) FROM audit_keys WHERE workspace_id = ?').pluck().get(ws) as number),
    rawKeys: (ws) => {
      db.prepare(
        'SELECT key_id, name, handle, user_id, start, created_at, expires_at FROM audit_keys WHERE workspace_id = ?',
      ).all(ws);
      return Promise.resolve();
    },
    close: () => Promise.resolve(void db.close()),
  };
}

function barePostgres(url: string): Bare {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  return {
    list: async (filters, scope, cursor) => {
      const where = auditWhere(filters, scope, 'postgres');
      const p = new Params('postgres', where.params.length + 1);
      const more = cursor !== null ? ` AND position < ${p.add(cursor)}` : '';
      await pool.query(`SELECT * FROM audit_events WHERE ${where.sql}${more} ORDER BY position DESC LIMIT 101`, [
        ...where.params,
        ...p.values,
      ]);
    },
    keysOf: async (ws) =>
      Number((await pool.query('SELECT COUNT(*) AS n FROM audit_keys WHERE workspace_id = $1', [ws])).rows[0].n),
    rawKeys: async (ws) => {
      await pool.query({
        text: 'SELECT key_id, name, handle, user_id, start, created_at, expires_at FROM audit_keys WHERE workspace_id = $1',
        values: [ws],
        rowMode: 'array',
      });
    },
    close: () => pool.end(),
  };
}

// ------------------------------------------------------------------ HTTP helpers

async function login(url: string, email: string): Promise<string> {
  const r = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

async function getJson(
  url: string,
  token: string,
  retry = true,
): Promise<{ status: number; body: unknown; ms: number }> {
  const t = performance.now();
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } }).catch((err: unknown) => {
    // A kept-alive socket the server closed while idle (its keepAliveTimeout): a GET is safe to send again, once.
    if (retry && (err as { cause?: { code?: string } }).cause?.code === 'UND_ERR_SOCKET') return null;
    throw err;
  });
  if (r === null) return getJson(url, token, false);
  const text = await r.text();
  const ms = performance.now() - t;
  return { status: r.status, body: JSON.parse(text) as unknown, ms };
}

/** Streams a response to nowhere, sampling the server's RSS; resolves with bytes, seconds, peak RSS and the last line. */
function download(
  url: string,
  token: string | null,
  server: Child,
): Promise<{ bytes: number; seconds: number; peakRss: number; lastLine: string }> {
  return new Promise((resolve, reject) => {
    let peak = server.rss();
    const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 20);
    const t = performance.now();
    const req = httpGet(url, { headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      if (res.statusCode !== 200) {
        clearInterval(sampler);
        reject(new Error(`${url}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      let bytes = 0;
      // The client must cost next to nothing: keep references to the last chunks only (the manifest line is at the end).
      let last: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        last = last.length < 8 ? [...last, c] : [...last.slice(1), c];
      });
      res.on('end', () => {
        clearInterval(sampler);
        peak = Math.max(peak, server.rss());
        const lines = Buffer.concat(last).toString('utf8').trimEnd().split('\n');
        resolve({
          bytes,
          seconds: (performance.now() - t) / 1000,
          peakRss: peak,
          lastLine: lines[lines.length - 1] ?? '',
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function waitReady(url: string, head: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${url}/readyz`);
    const body = (await r.json()) as {
      checks?: Array<{ name: string; ok: boolean; detail?: Record<string, unknown> }>;
    };
    const audit = body.checks?.find((c) => c.name === 'audit_projection');
    const cp = body.checks?.find((c) => c.name === 'chain_checkpointer');
    const projected = Number(audit?.detail?.position ?? -1);
    const checkpointed = Number(cp?.detail?.lastCheckpointPosition ?? -1);
    // Caught up, and the checkpointer has written the log's checkpoints (it writes them at 100 per second).
    if (audit?.ok && projected >= head && checkpointed >= head - 2000) return;
    if (Date.now() > deadline) throw new Error(`server not caught up after ${timeoutMs} ms: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ------------------------------------------------------------------ measurements

async function benchExport(server: Child, baseline: Child, token: string, head: number): Promise<void> {
  // A short warm-up, so lazy start-up allocations are not counted as growth.
  await download(`${server.url}/v1/audit/export?toPosition=1000`, token, server);
  const baseRss = baseline.rss();
  const base = await download(`${baseline.url}/`, null, baseline);
  const baseRate = head / base.seconds;
  console.log(
    `\nexport — GET /v1/audit/export, unfiltered, ${int(head)} events, streamed over loopback HTTP to this process`,
  );
  let count = head;
  for (const format of ['jsonl', 'csv'] as const) {
    const rssBefore = server.rss();
    const r = await download(`${server.url}/v1/audit/export?format=${format}&toPosition=${head}`, token, server);
    if (format === 'jsonl') {
      count = (JSON.parse(r.lastLine) as { manifest: { count: number } }).manifest.count;
      if (count !== head) throw new Error(`export manifest counts ${count} records, expected ${head}`);
    }
    const rate = count / r.seconds;
    const growth = r.peakRss - rssBefore;
    // The throughput target is the default format's; CSV is shown beside it (its formula guard costs per cell).
    const jsonl = format === 'jsonl';
    figure(
      `${format} throughput${jsonl ? ' (default format)' : ''}`,
      `${int(rate)} ev/s`,
      jsonl ? '≥ 200,000 ev/s' : '(JSONL only)',
      jsonl ? rate >= 200_000 : null,
      `  ${fix(r.seconds)} s, ${mb(r.bytes)} (${mb(r.bytes / r.seconds)}/s); baseline ${RAW} scan → bare node:http ${int(baseRate)} ev/s (export ×${fix(rate / baseRate)})`,
    );
    figure(
      `${format} server RSS growth`,
      mb(growth),
      '< 50 MB',
      growth < 50 * 2 ** 20,
      `  RSS ${mb(rssBefore)} → peak ${mb(r.peakRss)}; baseline server peak growth ${mb(base.peakRss - baseRss)}`,
    );
  }
}

interface QueryKind {
  name: string;
  /** Query string for the route, and whose session asks. */
  make(): { q: Record<string, string>; auditor: boolean };
}

async function benchQueries(w: World, server: Child, admin: string, auditor: string, sql: Bare): Promise<void> {
  const rnd = prng(11);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const instant = (): number => w.t0 + Math.floor(rnd() * SPAN);
  const iso = (ms: number): string => new Date(ms).toISOString();
  const kinds: QueryKind[] = [
    { name: 'keyId', make: () => ({ q: { keyId: pick(w.keyIds) }, auditor: false }) },
    { name: 'tokenDigest', make: () => ({ q: { tokenDigest: pick(w.digests) }, auditor: false }) },
    { name: 'userId', make: () => ({ q: { userId: pick(w.userIds) }, auditor: false }) },
    { name: 'actorId (a key)', make: () => ({ q: { actorId: pick(w.keyIds) }, auditor: false }) },
    { name: 'type=ApiKeyRevoked', make: () => ({ q: { type: 'ApiKeyRevoked' }, auditor: false }) },
    {
      name: 'type=UserDeactivated,WorkspaceMemberRemoved',
      make: () => ({ q: { type: 'UserDeactivated,WorkspaceMemberRemoved' }, auditor: false }),
    },
    {
      name: 'workspaceId (a small team)',
      make: () => ({ q: { workspaceId: pick(w.wsIds.slice(1)) }, auditor: false }),
    },
    {
      name: 'workspaceId + type=ApiKeyRevoked',
      make: () => ({ q: { workspaceId: pick(w.wsIds.slice(1)), type: 'ApiKeyRevoked' }, auditor: false }),
    },
    {
      name: 'from/to (1 h window)',
      make: () => ((t) => ({ q: { from: iso(t), to: iso(t + 3600_000) }, auditor: false }))(instant()),
    },
    {
      name: 'from (last 30 days) + type',
      make: () => ({ q: { from: iso(w.tEnd - 30 * DAY), type: 'ApiKeyRotated,ApiKeyRevoked' }, auditor: false }),
    },
    {
      name: 'from/to (a random week)',
      make: () => ((t) => ({ q: { from: iso(t), to: iso(t + 7 * DAY) }, auditor: false }))(instant()),
    },
    { name: 'to (the first 30 days)', make: () => ({ q: { to: iso(w.t0 + 30 * DAY) }, auditor: false }) },
    {
      name: 'unfiltered, deep cursor',
      make: () => ({
        q: { cursor: Buffer.from(`p${1 + Math.floor(rnd() * w.events)}`).toString('base64url') },
        auditor: false,
      }),
    },
    { name: 'auditor scope, unfiltered', make: () => ({ q: {}, auditor: true }) },
    {
      name: 'auditor scope, type=ApiKeySecretRevealed',
      make: () => ({ q: { type: 'ApiKeySecretRevealed' }, auditor: true }),
    },
  ];
  const scopeOfAuditor = [w.wsIds[0]!];
  const all: number[] = [];
  console.log(
    `\nfiltered audit queries — GET /v1/audit (limit 100, newest first) over HTTP, ${QUERY_SAMPLES} samples per kind`,
  );
  console.log(
    '  baseline: the same SELECT … ORDER BY position DESC LIMIT 101 run bare in this process (no HTTP, auth or JSON)',
  );
  for (const kind of kinds) {
    const times: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < QUERY_SAMPLES + 10; i++) {
      const { q, auditor: asAuditor } = kind.make();
      const r = await getJson(
        `${server.url}/v1/audit?limit=100&${new URLSearchParams(q).toString()}`,
        asAuditor ? auditor : admin,
      );
      if (r.status !== 200) throw new Error(`${kind.name}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      const { cursor, ...filterQ } = q;
      const position = cursor ? Number(Buffer.from(cursor, 'base64url').toString().slice(1)) : null;
      const t = performance.now();
      await sql.list(parseAuditFilters(filterQ), asAuditor ? scopeOfAuditor : null, position);
      const bareMs = performance.now() - t;
      if (i < 10) continue; // warm-up
      times.push(r.ms);
      bare.push(bareMs);
    }
    all.push(...times);
    const s = sortedCopy(times);
    const b = sortedCopy(bare);
    const p99 = quantile(s, 0.99);
    figure(
      `p99 ${kind.name}`,
      `${fix(p99)} ms`,
      '≤ 50 ms',
      p99 <= 50,
      `  p50 ${fix(quantile(s, 0.5))} ms; bare SELECT p99 ${fix(quantile(b, 0.99))} ms (route ×${fix(p99 / Math.max(0.01, quantile(b, 0.99)), 1)})`,
    );
  }
  const s = sortedCopy(all);
  figure(
    'p99 over all kinds',
    `${fix(quantile(s, 0.99))} ms`,
    '≤ 50 ms',
    quantile(s, 0.99) <= 50,
    `  ${int(s.length)} requests, p50 ${fix(quantile(s, 0.5))} ms, max ${fix(s[s.length - 1]!)} ms`,
  );
}

async function benchValidAt(w: World, server: Child, admin: string, bare: Bare): Promise<void> {
  const ws = w.wsIds[0]!;
  const keys = await bare.keysOf(ws);
  const rawTimes: number[] = [];
  for (let i = 0; i < VALIDAT_SAMPLES; i++) {
    const t = performance.now();
    await bare.rawKeys(ws);
    rawTimes.push(performance.now() - t);
  }
  const rawMedian = quantile(sortedCopy(rawTimes), 0.5);
  console.log(
    `\nvalidAt — GET /v1/workspaces/:id/keys?validAt= over HTTP, one workspace with ${int(keys)} keys, ${VALIDAT_SAMPLES} samples per instant`,
  );
  console.log(
    `  baseline: raw SELECT of the answer's columns for all ${int(keys)} keys of the workspace (no validity test, no HTTP) in this process, median ${fix(rawMedian)} ms`,
  );
  let worst = 0;
  for (const frac of [0.25, 0.5, 0.75, 1]) {
    const at = new Date(w.t0 + Math.floor(frac * SPAN)).toISOString();
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < VALIDAT_SAMPLES + 2; i++) {
      const r = await getJson(`${server.url}/v1/workspaces/${ws}/keys?validAt=${at}`, admin);
      if (r.status !== 200) throw new Error(`validAt: HTTP ${r.status}`);
      count = (r.body as { count: number }).count;
      if (i >= 2) times.push(r.ms);
    }
    const s = sortedCopy(times);
    const med = quantile(s, 0.5);
    worst = Math.max(worst, med);
    figure(
      `validAt ${at.slice(0, 10)} (${int(count)} valid)`,
      `${fix(med)} ms`,
      '≤ 500 ms',
      med <= 500,
      `  median; max ${fix(s[s.length - 1]!)} ms; ×${fix(med / rawMedian, 1)} the raw SELECT`,
    );
  }
  figure('validAt, slowest instant (median)', `${fix(worst)} ms`, '≤ 500 ms', worst <= 500);
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  console.log(
    `token-ledger audit benchmark (AUDIT_BENCH_EVENTS=${EVENTS}${PG ? ', AUDIT_BENCH_PG=1: PostgreSQL' : ''})`,
  );
  console.log(machine());
  // AUDIT_BENCH_DIR keeps the data folder (and reuses a dataset written there before), for profiling between runs.
  const keep = process.env.AUDIT_BENCH_DIR;
  if (keep) mkdirSync(keep, { recursive: true });
  const dir = keep ? { path: keep, cleanup: () => undefined } : tempDir('bench-audit');
  const children: Child[] = [];
  let pgdb: TestDatabase | null = null;
  let bare: Bare | null = null;
  // Interrupted: take the servers down with us (a busy server may not get to its SIGTERM handler soon).
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      for (const c of children) c.proc.kill('SIGKILL');
      dir.cleanup();
      process.exit(130);
    });
  try {
    let t = performance.now();
    const saved = `${dir.path}/bench-world.json`;
    const reused = existsSync(saved);
    const w = reused ? (JSON.parse(readFileSync(saved, 'utf8')) as World) : await buildWorld(dir.path);
    if (w.events !== EVENTS) throw new Error(`${saved} holds a dataset of ${w.events} events, not ${EVENTS}`);
    if (keep) writeFileSync(saved, JSON.stringify(w));
    console.log(
      reused
        ? `\ndataset: ${int(w.events)} events (${int(w.keyIds.length)} keys) reused from ${dir.path}`
        : `\ndataset: ${int(w.events)} events (${int(w.keyIds.length)} keys) written through the ledger in ${fix((performance.now() - t) / 1000, 1)} s`,
    );

    if (PG) {
      t = performance.now();
      pgdb = await copyToPostgres(`${dir.path}/ledger.db`, 'benchaudit');
      console.log(`postgres: the log copied into ${pgdb.name} in ${fix((performance.now() - t) / 1000, 1)} s`);
    }
    const env = {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LEDGER_DATA_DIR: dir.path,
      LOG_LEVEL: 'warn',
      LEDGER_SESSION_TTL: '12h',
      LEDGER_CHECKPOINT_EVERY: '1000',
      ...(pgdb
        ? {
            LEDGER_DATABASE_URL: pgdb.url,
            // The key the dataset's retrievable tokens were sealed with, now given as the cluster's master key.
            LEDGER_MASTER_KEY: readFileSync(`${dir.path}/master.key`, 'utf8').trim(),
          }
        : {}),
    };
    const main = fileURLToPath(new URL('../services/cli/main.js', import.meta.url));
    const projected = !PG && existsSync(auditDbFile(dir.path));
    t = performance.now();
    const server = await spawnListening([main, 'serve'], env);
    children.push(server);
    const listening = (performance.now() - t) / 1000;
    await waitReady(server.url, w.events, 3_600_000);
    const ready = (performance.now() - t) / 1000;
    // The server listens once the ledger read model is rebuilt and the audit projection has caught up with the log.
    console.log(
      `server: listening after ${fix(listening, 1)} s (read model rebuilt, audit projection ${projected ? 'reopened' : `built from the log, ${int(w.events / listening)} ev/s overall`}); ` +
        `${int(w.events / 1000)} checkpoints signed after ${fix(ready, 1)} s`,
    );
    const admin = await login(server.url, ADMIN_EMAIL);
    const auditor = await login(server.url, AUDITOR_EMAIL);
    const baseline = await spawnListening(
      pgdb
        ? [fileURLToPath(import.meta.url), '--baseline-server-pg', pgdb.url]
        : [fileURLToPath(import.meta.url), '--baseline-server', auditDbFile(dir.path)],
      process.env,
    );
    children.push(baseline);
    console.log(`  ${'figure'.padEnd(44)} ${'value'.padStart(16)}   ${'target'.padEnd(16)} verdict`);
    const head = (
      await getJson(`${server.url}/readyz`, admin).then(
        (r) => r.body as { checks: Array<{ name: string; detail?: { position?: number } }> },
      )
    ).checks.find((c) => c.name === 'audit_projection')!.detail!.position!;
    await benchExport(server, baseline, admin, head);
    bare = pgdb ? barePostgres(pgdb.url) : bareSqlite(auditDbFile(dir.path));
    await benchQueries(w, server, admin, auditor, bare);
    await benchValidAt(w, server, admin, bare);
  } finally {
    for (const c of children) await c.stop();
    await bare?.close();
    await pgdb?.drop();
    dir.cleanup();
  }
  console.log(misses() === 0 ? '\nall targets met' : `\n${misses()} target(s) missed`);
}

if (process.argv[2] === '--baseline-server') baselineServer(process.argv[3]!);
else if (process.argv[2] === '--baseline-server-pg') baselineServerPg(process.argv[3]!);
else await main();
