// SQL over audit.db: the filtered, position-paged audit listing, a key's rotation lineage and history,
// and the keys of a workspace that would have verified at an instant (from the timeline tables).
import type Database from 'better-sqlite3';
import { HttpError } from '../http/errors.js';
import type { AuditRow } from '../../projections/audit/audit-db.js';
import { auditWhere, type AuditFilters } from './filters.js';

export type AuditOrder = 'asc' | 'desc';

/** One audit event as the API returns it. */
export interface AuditItem {
  position: number;
  id: string;
  type: string;
  occurredAt: string;
  streamId: string;
  keyId: string | null;
  userId: string | null;
  workspaceId: string | null;
  actor: { type: string | null; id: string | null };
  request: { ip: string | null; userAgent: string | null; requestId: string | null };
  scheme: string | null;
  tokenDigest: string | null;
  chain: string;
  event: { data: unknown; metadata: unknown };
}

export function auditItem(r: AuditRow): AuditItem {
  // r.event is already redacted (audit-db flatten): no sealed token or password hash ever reaches here.
  const e = JSON.parse(r.event) as { data?: unknown; metadata?: unknown };
  return {
    position: r.position,
    id: r.event_id,
    type: r.type,
    occurredAt: r.occurred_at,
    streamId: r.stream_id,
    keyId: r.key_id,
    userId: r.user_id,
    workspaceId: r.workspace_id,
    actor: { type: r.actor_type, id: r.actor_id },
    request: { ip: r.ip, userAgent: r.user_agent, requestId: r.request_id },
    scheme: r.scheme,
    tokenDigest: r.token_digest,
    chain: r.chain,
    event: { data: e.data ?? null, metadata: e.metadata ?? null },
  };
}

const CURSOR_PREFIX = 'p';

/** Opaque to clients; inside, the last position returned. Positions never change, so a cursor stays valid. */
export function encodeCursor(position: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${position}`, 'utf8').toString('base64url');
}

export function decodeCursor(raw: string): number {
  const s = /^[A-Za-z0-9_-]{1,40}$/.test(raw) ? Buffer.from(raw, 'base64url').toString('utf8') : '';
  const m = /^p(0|[1-9][0-9]{0,15})$/.exec(s);
  if (!m)
    throw new HttpError(400, 'invalid_cursor', 'The cursor is not one this listing returned.', {
      attr: 'cursor',
      type: 'validation_error',
    });
  return Number(m[1]);
}

export interface ListSpec {
  readonly filters: AuditFilters;
  /** null: every event (system admins); otherwise only events about these workspaces. */
  readonly scope: readonly string[] | null;
  readonly cursor: number | null;
  readonly limit: number;
  readonly order: AuditOrder;
}

export interface ListPage {
  items: AuditItem[];
  nextCursor: string | null;
  hasMore: boolean;
}

export function listAudit(db: Database.Database, spec: ListSpec): ListPage {
  const base = auditWhere(spec.filters, spec.scope);
  const parts = [base.sql];
  const params: Array<string | number> = [...base.params];
  if (spec.cursor !== null) {
    parts.push(spec.order === 'desc' ? 'position < ?' : 'position > ?');
    params.push(spec.cursor);
  }
  const dir = spec.order === 'desc' ? 'DESC' : 'ASC';
  const rows = db
    .prepare(`SELECT * FROM audit_events WHERE ${parts.join(' AND ')} ORDER BY position ${dir} LIMIT ?`)
    .all(...params, spec.limit + 1) as AuditRow[];
  const hasMore = rows.length > spec.limit;
  const items = rows.slice(0, spec.limit).map(auditItem);
  const last = items[items.length - 1];
  // Oldest-first walks keep a cursor at the end too, so a client can poll for what arrives next.
  const nextCursor =
    last !== undefined && (hasMore || spec.order === 'asc')
      ? encodeCursor(last.position)
      : spec.order === 'asc' && spec.cursor !== null
        ? encodeCursor(spec.cursor)
        : null;
  return { items, nextCursor, hasMore };
}

export interface Lineage {
  predecessors: string[];
  successors: string[];
}

/** Follows rotatedFrom back and successorId forward, transitively (cycles are impossible but guarded against). */
export function lineage(db: Database.Database, keyId: string): Lineage {
  const get = db.prepare('SELECT rotated_from, successor_id FROM audit_keys WHERE key_id = ?');
  const bySucc = db.prepare('SELECT key_id FROM audit_keys WHERE rotated_from = ? ORDER BY created_ms LIMIT 1');
  const seen = new Set([keyId]);
  const predecessors: string[] = [];
  for (
    let cur = (get.get(keyId) as { rotated_from: string | null } | undefined)?.rotated_from ?? null;
    cur !== null && !seen.has(cur);
  ) {
    seen.add(cur);
    predecessors.unshift(cur);
    cur = (get.get(cur) as { rotated_from: string | null } | undefined)?.rotated_from ?? null;
  }
  const successors: string[] = [];
  const next = (id: string): string | null =>
    (get.get(id) as { successor_id: string | null } | undefined)?.successor_id ??
    (bySucc.get(id) as { key_id: string } | undefined)?.key_id ??
    null;
  for (let cur = next(keyId); cur !== null && !seen.has(cur); cur = next(cur)) {
    seen.add(cur);
    successors.push(cur);
  }
  return { predecessors, successors };
}

/** Every event of these keys, oldest first. */
export function keyEvents(db: Database.Database, keyIds: readonly string[]): AuditItem[] {
  const marks = keyIds.map(() => '?').join(', ');
  return (
    db.prepare(`SELECT * FROM audit_events WHERE key_id IN (${marks}) ORDER BY position`).all(...keyIds) as AuditRow[]
  ).map(auditItem);
}

export interface ValidKey {
  id: string;
  name: string;
  handle: string | null;
  userId: string;
  start: string;
  createdAt: string;
  expiresAt: string | null;
}

/**
 * Keys of the workspace that would have verified at `at`: created at or before it, ending after it (expiry,
 * grace end, revocation, recorded expiry), owner not in an inactive spell and in a membership interval at it.
 * Intervals are half-open [from, to), so the state at `at` is the one after every event stamped at or before it.
 */
export function keysValidAt(db: Database.Database, workspaceId: string, at: number): ValidKey[] {
  // Owners first (a workspace has few members, and many keys each): who was an active member at `at`.
  const rows = db
    .prepare(
      `WITH owners AS (
         SELECT m.user_id FROM audit_membership m
         WHERE m.workspace_id = @ws AND m.from_ms <= @at AND m.to_ms > @at
           AND NOT EXISTS (SELECT 1 FROM audit_user_inactive i WHERE i.user_id = m.user_id AND i.from_ms <= @at AND i.to_ms > @at))
       SELECT k.key_id, k.name, k.handle, k.user_id, k.start, k.created_at, k.expires_at FROM audit_keys k INDEXED BY audit_keys_valid
       WHERE k.workspace_id = @ws AND k.created_ms <= @at AND k.end_ms > @at AND k.user_id IN owners
       ORDER BY k.created_ms, k.key_id`,
    )
    .raw()
    .all({ ws: workspaceId, at }) as Array<[string, string, string | null, string, string, string, string | null]>;
  return rows.map(([id, name, handle, userId, start, createdAt, expiresAt]) => ({
    id,
    name,
    handle,
    userId,
    start,
    createdAt,
    expiresAt,
  }));
}
