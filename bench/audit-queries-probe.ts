// Probe (not a test): latency of the audit queries over large synthetic audit.db files.
// `npm run build --silent && node dist/bench/audit-queries-probe.js` (PROBE_KEYS=100000 PROBE_EVENTS=1000000 by default).
// Part 1 (PROBE_ALL_VALID=1 for the case where every key is valid): GET /v1/workspaces/:id/keys?validAt= over PROBE_KEYS keys in one workspace (query + JSON encoding).
// Part 2: filtered GET /v1/audit first pages (limit 100, newest first) over PROBE_EVENTS events, p50/p99 per filter.
// Rows are written straight into audit.db with AuditDb.applyBatch over synthetic events (no ledger involved).
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { RecordedEvent } from '../events/store/types.js';
import { AuditDb } from '../services/audit/audit-db.js';
import { parseAuditFilters } from '../services/audit/filters.js';
import { keysValidAt, listAudit } from '../services/audit/queries.js';
import { auditExtensions } from '../services/audit/timeline.js';
import { tempDir } from '../test/support/tmp.js';

const KEYS = Number(process.env.PROBE_KEYS ?? 100_000);
const EVENTS = Number(process.env.PROBE_EVENTS ?? 1_000_000);
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
/** PROBE_ALL_VALID=1: no expiry, revocation or deactivation, so every key is in the answer (the worst case). */
const ALL_VALID = process.env.PROBE_ALL_VALID === '1';
const WORKSPACES = 10;
const USERS = 200;

let position = 0;
function ev(type: string, streamId: string, data: Record<string, unknown>, atMs: number, actorId = 'system'): RecordedEvent {
  position += 1;
  return {
    id: randomUUID(),
    streamId,
    revision: 0,
    position,
    type,
    data,
    metadata: {
      eventId: randomUUID(),
      occurredAt: new Date(atMs).toISOString(),
      actor: { type: actorId === 'system' ? 'system' : 'key', id: actorId },
      request: { ip: '10.0.0.7', userAgent: 'probe/1.0', requestId: `req_${position.toString(36)}` },
      correlationId: `req_${position.toString(36)}`,
      schemaVersion: 1,
    },
  };
}

const ws = (i: number): string => `ws_${i}`;
const usr = (i: number): string => `usr_${i}`;
const key = (i: number): string => `key_${i.toString(36).padStart(8, '0')}`;
const digest = (i: number): string => i.toString(16).padStart(64, '0');

function stats(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): string => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(2);
  return `p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${s[s.length - 1]!.toFixed(2)} ms (n=${s.length})`;
}

function time(fn: () => unknown): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function writeAll(db: AuditDb, gen: Iterable<RecordedEvent>): void {
  let batch: RecordedEvent[] = [];
  for (const e of gen) {
    batch.push(e);
    if (batch.length === 5000) {
      db.applyBatch(batch);
      batch = [];
    }
  }
  db.applyBatch(batch);
}

/** Part 1: one workspace with KEYS keys over a year; owners deactivated/removed now and then. */
function* keyHistory(): Generator<RecordedEvent> {
  position = 0;
  for (let u = 0; u < USERS; u++) {
    yield ev('UserRegistered', `user-${usr(u)}`, { userId: usr(u), email: `u${u}@x`, name: 'U', passwordHash: 'x', systemRole: 'user' }, T0);
    yield ev('WorkspaceMemberRoleSet', `workspace-${ws(0)}`, { workspaceId: ws(0), userId: usr(u), role: 'member' }, T0);
  }
  const span = 365 * 24 * 3600_000;
  for (let i = 0; i < KEYS; i++) {
    const at = T0 + Math.floor((i / KEYS) * span);
    const ttl = ALL_VALID || i % 3 === 0 ? null : (1 + (i % 90)) * 24 * 3600_000;
    yield ev(
      'ApiKeyCreated',
      `apikey-${key(i)}`,
      {
        keyId: key(i),
        userId: usr(i % USERS),
        workspaceId: ws(0),
        name: `k${i}`,
        handle: null,
        start: 'tl_abcd',
        digest: digest(i),
        expiresAt: ttl === null ? null : new Date(at + ttl).toISOString(),
        sealed: null,
        rotatedFrom: null,
      },
      at,
    );
    if (ALL_VALID) continue;
    if (i % 10 === 5) yield ev('ApiKeyRevoked', `apikey-${key(i - 3)}`, { keyId: key(i - 3), reason: null, revokedBy: { type: 'system', id: 'system' } }, at);
    if (i % 5000 === 2500) {
      const u = usr(((i / 5000) % USERS) | 0);
      yield ev('UserDeactivated', `user-${u}`, { userId: u, reason: null }, at);
      yield ev('UserReactivated', `user-${u}`, { userId: u }, at + 7 * 24 * 3600_000);
      yield ev('WorkspaceMemberRemoved', `workspace-${ws(0)}`, { workspaceId: ws(0), userId: usr(((i / 5000 + 1) % USERS) | 0) }, at);
    }
  }
}

/** Part 2: EVENTS events over 5000 keys in WORKSPACES workspaces: mostly key use, some revocations and logins. */
function* mixedHistory(): Generator<RecordedEvent> {
  position = 0;
  const nKeys = 5000;
  for (let i = 0; i < nKeys; i++) {
    yield ev(
      'ApiKeyCreated',
      `apikey-${key(i)}`,
      {
        keyId: key(i),
        userId: usr(i % USERS),
        workspaceId: ws(i % WORKSPACES),
        name: `k${i}`,
        handle: null,
        start: 'tl_abcd',
        digest: digest(i),
        expiresAt: null,
        sealed: null,
        rotatedFrom: null,
      },
      T0 + i * 1000,
    );
  }
  for (let n = nKeys; n < EVENTS; n++) {
    const at = T0 + n * 1000;
    const k = (n * 7919) % nKeys;
    if (n % 1000 === 0) yield ev('ApiKeyRevoked', `apikey-${key(k)}`, { keyId: key(k), reason: null, revokedBy: { type: 'system', id: 'system' } }, at);
    else if (n % 10 === 0)
      yield ev(
        'UserLoginSucceeded',
        `user-${usr(n % USERS)}`,
        { userId: usr(n % USERS), sessionId: `s${n}`, expiresAt: new Date(at).toISOString() },
        at,
        usr(n % USERS),
      );
    else
      yield ev(
        'ApiKeyUsed',
        `apikey-${key(k)}`,
        {
          keyId: key(k),
          count: 1,
          firstAt: new Date(at).toISOString(),
          lastAt: new Date(at).toISOString(),
          lastIp: null,
          lastUserAgent: null,
          presentation: 'bearer',
        },
        at,
        key(k),
      );
  }
}

const dir = tempDir('audit-queries-probe');
try {
  {
    const db = new AuditDb(join(dir.path, 'keys.db'), auditExtensions);
    const w = time(() => writeAll(db, keyHistory()));
    console.log(`part 1: ${KEYS} keys (${position} events) written in ${(w / 1000).toFixed(1)} s`);
    for (const frac of [0.1, 0.5, 0.9, 1.0]) {
      const at = T0 + Math.floor(frac * 365 * 24 * 3600_000);
      let count = 0;
      const samples: number[] = [];
      for (let r = 0; r < 15; r++) samples.push(time(() => (count = JSON.stringify(keysValidAt(db.db, ws(0), at)).length)));
      const valid = keysValidAt(db.db, ws(0), at).length;
      console.log(`  validAt ${new Date(at).toISOString()}: ${valid} keys valid (${(count / 1e6).toFixed(1)} MB JSON): ${stats(samples)}`);
    }
    db.close();
  }
  {
    const db = new AuditDb(join(dir.path, 'events.db'), auditExtensions);
    const w = time(() => writeAll(db, mixedHistory()));
    console.log(`part 2: ${position} events written in ${(w / 1000).toFixed(1)} s`);
    const rnd = (n: number): number => Math.floor(Math.random() * n);
    const mid = (): string => new Date(T0 + rnd(EVENTS) * 1000).toISOString();
    const cases: Array<[string, () => Record<string, string>, readonly string[] | null]> = [
      ['no filter (admin)', () => ({}), null],
      ['keyId', () => ({ keyId: key(rnd(5000)) }), null],
      ['tokenDigest', () => ({ tokenDigest: digest(rnd(5000)) }), null],
      ['userId', () => ({ userId: usr(rnd(USERS)) }), null],
      ['actorId', () => ({ actorId: key(rnd(5000)) }), null],
      ['type=ApiKeyRevoked', () => ({ type: 'ApiKeyRevoked' }), null],
      ['type=ApiKeyRevoked,UserLoginSucceeded', () => ({ type: 'ApiKeyRevoked,UserLoginSucceeded' }), null],
      ['from/to (1 h window)', () => ((f) => ({ from: f, to: new Date(Date.parse(f) + 3600_000).toISOString() }))(mid()), null],
      ['workspaceId (incl. its keys’ events)', () => ({ workspaceId: ws(rnd(WORKSPACES)) }), null],
      ['type=ApiKeyRevoked&workspaceId', () => ({ type: 'ApiKeyRevoked', workspaceId: ws(rnd(WORKSPACES)) }), null],
      ['auditor scope (1 of 10 workspaces), no filter', () => ({}), [ws(3)]],
      ['auditor scope, type=ApiKeyRevoked', () => ({ type: 'ApiKeyRevoked' }), [ws(3)]],
    ];
    for (const [name, q, scope] of cases) {
      const samples: number[] = [];
      for (let r = 0; r < 200; r++) {
        const filters = parseAuditFilters(q());
        samples.push(time(() => JSON.stringify(listAudit(db.db, { filters, scope, cursor: null, limit: 100, order: 'desc' }))));
      }
      console.log(`  /v1/audit ${name}: ${stats(samples)}`);
    }
    db.close();
  }
} finally {
  dir.cleanup();
}
