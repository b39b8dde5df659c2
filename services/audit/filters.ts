// The audit filters shared by queries and exports: parsed once, validated, turned into one parameterized WHERE clause.
import { EVENT_TYPES } from '../../events/catalog.js';
import { HttpError } from '../http/errors.js';
import { z } from 'zod';
import { dateTime } from '../schemas/inputs.js';
import { parseIsoInstant } from '../domain/instant.js';

export interface AuditFilters {
  readonly keyId?: string;
  readonly userId?: string;
  readonly workspaceId?: string;
  readonly actorId?: string;
  readonly type?: readonly string[];
  readonly tokenDigest?: string;
  /** Inclusive lower bound on occurredAt, ISO. */
  readonly from?: string;
  /** Exclusive upper bound on occurredAt, ISO. */
  readonly to?: string;
}

const ID = /^[A-Za-z0-9_:.@-]{1,128}$/;
const TOKEN_DIGEST = /^[0-9a-fA-F]{64}$/;
const id = (description: string): z.ZodString => z.string().regex(ID).describe(description);

/** Query-string schemas (documented in OpenAPI) for the filters. */
export const auditFilterQuery = {
  keyId: id('events about this key'),
  userId: id('events about this user (subject, owner or member)'),
  workspaceId: id('events about this workspace'),
  actorId: id('events done by this actor (user, key, service or system id)'),
  type: z.string().max(1000).describe('event type, or several separated by commas (e.g. ApiKeyRevoked,ApiKeyExpired)'),
  tokenDigest: z.string().regex(TOKEN_DIGEST).describe('SHA-256 hex of a token: finds the key it belonged to'),
  from: dateTime.describe('occurredAt ≥ from (ISO-8601)'),
  to: dateTime.describe('occurredAt < to (ISO-8601)'),
};

/** The filter parameters of a query string, as validated by `auditFilterQuery` (or any record of strings). */
export type AuditFilterQuery = { readonly [K in keyof typeof auditFilterQuery]?: string };

function bad(attr: string, detail: string): HttpError {
  return new HttpError(400, 'invalid', detail, { attr, type: 'validation_error' });
}

function isoTime(raw: string, attr: string): string {
  const ms = parseIsoInstant(raw);
  if (ms === null) throw bad(attr, `${attr} must be an ISO-8601 date-time (e.g. 2026-01-31T12:00:00Z).`);
  return new Date(ms).toISOString();
}

/** Reads the filters out of a query string; anything malformed is a 400 naming the parameter. */
export function parseAuditFilters(query: AuditFilterQuery): AuditFilters {
  const f: { -readonly [K in keyof AuditFilters]: AuditFilters[K] } = {};
  for (const k of ['keyId', 'userId', 'workspaceId', 'actorId'] as const) {
    const v = query[k];
    if (v === undefined || v === '') continue;
    if (!ID.test(v)) throw bad(k, `${k} is not a valid id.`);
    f[k] = v;
  }
  if (query.type !== undefined && query.type !== '') {
    const types = query.type.split(',').map((t) => t.trim());
    for (const t of types)
      if (!(EVENT_TYPES as readonly string[]).includes(t))
        throw bad('type', `Unknown event type ${JSON.stringify(t.slice(0, 64))}.`);
    f.type = [...new Set(types)];
  }
  if (query.tokenDigest !== undefined && query.tokenDigest !== '') {
    if (!TOKEN_DIGEST.test(query.tokenDigest))
      throw bad('tokenDigest', 'tokenDigest must be 64 hex characters (SHA-256 of the token).');
    f.tokenDigest = query.tokenDigest.toLowerCase();
  }
  if (query.from !== undefined && query.from !== '') f.from = isoTime(query.from, 'from');
  if (query.to !== undefined && query.to !== '') f.to = isoTime(query.to, 'to');
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) throw bad('to', 'to must be after from.');
  return f;
}

/** Beyond any position: no row has ms_hw that high, so the bound is open. */
const NO_POSITION = Number.MAX_SAFE_INTEGER;
const SKEW = "COALESCE((SELECT CAST(value AS INTEGER) FROM audit_meta WHERE name = 'ms_skew'), 0)";

/** No filter and no scope: every event of the ledger, so consecutive records link chain to chain. */
export function selectsEverything(f: AuditFilters, scope: readonly string[] | null): boolean {
  return scope === null && Object.values(f).every((v) => v === undefined);
}

/**
 * WHERE clause over audit_events (no leading WHERE; "1=1" when empty) and its parameters. The one place both the
 * listing and the export turn filters and the caller's scope into SQL, so they always select the same rows.
 * - workspaceId and `scope` match about_ws: the event's own workspace, or for key events (which carry only keyId) the
 *   workspace the key was created in. `scope` null means no restriction (a system admin on a session).
 * - A token digest matches the key created with it, so the clause finds every event of that key.
 */
export function auditWhere(
  f: AuditFilters,
  scope: readonly string[] | null = null,
): { sql: string; params: Array<string | number> } {
  const parts: string[] = [];
  const params: Array<string | number> = [];
  const add = (clause: string, value: string | number): void => {
    parts.push(clause);
    params.push(value);
  };
  if (f.keyId !== undefined) add('key_id = ?', f.keyId);
  if (f.userId !== undefined) add('user_id = ?', f.userId);
  if (f.workspaceId !== undefined) add('about_ws = ?', f.workspaceId);
  // A workspaceId inside the scope already implies it (the routes refuse one outside it).
  if (scope !== null && !(f.workspaceId !== undefined && scope.includes(f.workspaceId))) {
    parts.push(scope.length === 1 ? 'about_ws = ?' : `about_ws IN (${scope.map(() => '?').join(', ')})`);
    params.push(...scope);
  }
  if (f.actorId !== undefined) add('actor_id = ?', f.actorId);
  if (f.type !== undefined && f.type.length > 0) {
    parts.push(`type IN (${f.type.map(() => '?').join(', ')})`);
    params.push(...f.type);
  }
  if (f.tokenDigest !== undefined) {
    // Only ApiKeyCreated rows carry a digest (audit-db keyColumns); INDEXED BY keeps this a single index probe.
    parts.push('key_id = (SELECT key_id FROM audit_events INDEXED BY audit_by_digest WHERE token_digest = ? LIMIT 1)');
    params.push(f.tokenDigest);
  }
  // Time filters also bound the position, so they narrow the scan instead of sorting a whole time range: ms_hw (the
  // running max of occurred_ms) never decreases along the log, and no event's time lags an earlier one's by more than
  // ms_skew, so every match sits at or after the first row with ms_hw ≥ from, and before the first with ms_hw ≥ to + skew.
  if (f.from !== undefined) {
    const from = Date.parse(f.from);
    add('occurred_ms >= ?', from);
    add(
      `position >= COALESCE((SELECT position FROM audit_events INDEXED BY audit_by_hw WHERE ms_hw >= ? ORDER BY ms_hw, position LIMIT 1), ${NO_POSITION})`,
      from,
    );
  }
  if (f.to !== undefined) {
    const to = Date.parse(f.to);
    add('occurred_ms < ?', to);
    add(
      `position < COALESCE((SELECT position FROM audit_events INDEXED BY audit_by_hw WHERE ms_hw >= ? + ${SKEW} ORDER BY ms_hw, position LIMIT 1), ${NO_POSITION})`,
      to,
    );
  }
  return { sql: parts.length === 0 ? '1=1' : parts.join(' AND '), params };
}
