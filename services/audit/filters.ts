// The audit filters shared by queries and exports: parsed once, validated, turned into one parameterized WHERE clause.
import { EVENT_TYPES } from '../../events/catalog.js';
import { HttpError } from '../http/errors.js';
import { str, type Schema } from '../http/schema.js';

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

const ID = '^[A-Za-z0-9_:.@-]{1,128}$';

/** Query-string schemas (documented in OpenAPI) for the filters. */
export const auditFilterQuery: Record<string, Schema> = {
  keyId: str({ pattern: ID, description: 'events about this key' }),
  userId: str({ pattern: ID, description: 'events about this user (subject, owner or member)' }),
  workspaceId: str({ pattern: ID, description: 'events about this workspace' }),
  actorId: str({ pattern: ID, description: 'events done by this actor (user, key, service or system id)' }),
  type: str({ maxLength: 1000, description: 'event type, or several separated by commas (e.g. ApiKeyRevoked,ApiKeyExpired)' }),
  tokenDigest: str({ pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 hex of a token: finds the key it belonged to' }),
  from: str({ format: 'date-time', description: 'occurredAt ≥ from (ISO-8601)' }),
  to: str({ format: 'date-time', description: 'occurredAt < to (ISO-8601)' }),
};

function bad(attr: string, detail: string): HttpError {
  return new HttpError(400, 'invalid', detail, { attr, type: 'validation_error' });
}

function isoTime(raw: string, attr: string): string {
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(raw) || Number.isNaN(ms)) throw bad(attr, `${attr} must be an ISO-8601 date-time.`);
  return new Date(ms).toISOString();
}

/** Reads the filters out of a query string; anything malformed is a 400 naming the parameter. */
export function parseAuditFilters(query: Record<string, string>): AuditFilters {
  const f: { -readonly [K in keyof AuditFilters]: AuditFilters[K] } = {};
  const re = new RegExp(ID);
  for (const k of ['keyId', 'userId', 'workspaceId', 'actorId'] as const) {
    const v = query[k];
    if (v === undefined || v === '') continue;
    if (!re.test(v)) throw bad(k, `${k} is not a valid id.`);
    f[k] = v;
  }
  if (query.type !== undefined && query.type !== '') {
    const types = query.type.split(',').map((t) => t.trim());
    for (const t of types) if (!(EVENT_TYPES as readonly string[]).includes(t)) throw bad('type', `Unknown event type ${JSON.stringify(t.slice(0, 64))}.`);
    f.type = [...new Set(types)];
  }
  if (query.tokenDigest !== undefined && query.tokenDigest !== '') {
    if (!/^[0-9a-fA-F]{64}$/.test(query.tokenDigest)) throw bad('tokenDigest', 'tokenDigest must be 64 hex characters (SHA-256 of the token).');
    f.tokenDigest = query.tokenDigest.toLowerCase();
  }
  if (query.from !== undefined && query.from !== '') f.from = isoTime(query.from, 'from');
  if (query.to !== undefined && query.to !== '') f.to = isoTime(query.to, 'to');
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) throw bad('to', 'to must be after from.');
  return f;
}

/**
 * WHERE clause over audit_events (no leading WHERE; "1=1" when empty) and its parameters.
 * A token digest matches the key created with it, so the clause finds every event of that key.
 */
export function auditWhere(f: AuditFilters): { sql: string; params: Array<string | number> } {
  const parts: string[] = [];
  const params: Array<string | number> = [];
  const add = (clause: string, value: string | number): void => {
    parts.push(clause);
    params.push(value);
  };
  if (f.keyId !== undefined) add('key_id = ?', f.keyId);
  if (f.userId !== undefined) add('user_id = ?', f.userId);
  if (f.workspaceId !== undefined) add('workspace_id = ?', f.workspaceId);
  if (f.actorId !== undefined) add('actor_id = ?', f.actorId);
  if (f.type !== undefined && f.type.length > 0) {
    parts.push(`type IN (${f.type.map(() => '?').join(', ')})`);
    params.push(...f.type);
  }
  if (f.tokenDigest !== undefined) {
    parts.push("key_id IN (SELECT key_id FROM audit_events WHERE token_digest = ? AND type = 'ApiKeyCreated')");
    params.push(f.tokenDigest);
  }
  if (f.from !== undefined) add('occurred_ms >= ?', Date.parse(f.from));
  if (f.to !== undefined) add('occurred_ms < ?', Date.parse(f.to));
  return { sql: parts.length === 0 ? '1=1' : parts.join(' AND '), params };
}
