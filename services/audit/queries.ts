// Reads of the audit store: the filtered, position-paged audit listing, a key's rotation lineage and history,
// and the keys of a workspace that would have verified at an instant (from the timeline tables).
import { HttpError } from '../http/errors.js';
import type { AuditRow } from '../../projections/audit/row.js';
import type { AuditStore, ValidKey } from '../../projections/audit/store.js';
import type { AuditFilters } from './filters.js';

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

export async function listAudit(store: AuditStore, spec: ListSpec): Promise<ListPage> {
  const bound = spec.cursor === null ? {} : spec.order === 'desc' ? { before: spec.cursor } : { after: spec.cursor };
  const rows = await store.rows({
    filters: spec.filters,
    scope: spec.scope,
    ...bound,
    order: spec.order,
    limit: spec.limit + 1,
  });
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
export async function lineage(store: AuditStore, keyId: string): Promise<Lineage> {
  const seen = new Set([keyId]);
  const predecessors: string[] = [];
  for (let cur = (await store.keyLink(keyId)).rotatedFrom; cur !== null && !seen.has(cur);) {
    seen.add(cur);
    predecessors.unshift(cur);
    cur = (await store.keyLink(cur)).rotatedFrom;
  }
  const successors: string[] = [];
  for (
    let cur = (await store.keyLink(keyId)).next;
    cur !== null && !seen.has(cur);
    cur = (await store.keyLink(cur)).next
  ) {
    seen.add(cur);
    successors.push(cur);
  }
  return { predecessors, successors };
}

/** Every event of these keys, oldest first. */
export async function keyEvents(store: AuditStore, keyIds: readonly string[]): Promise<AuditItem[]> {
  return (await store.rows({ filters: {}, scope: null, keyIds, order: 'asc' })).map(auditItem);
}

export type { ValidKey };

/**
 * Keys of the workspace that would have verified at `at`: created at or before it, ending after it (expiry,
 * grace end, revocation, recorded expiry), owner not in an inactive spell and in a membership interval at it.
 * Intervals are half-open [from, to), so the state at `at` is the one after every event stamped at or before it.
 */
export function keysValidAt(store: AuditStore, workspaceId: string, at: number): Promise<ValidKey[]> {
  return store.keysValidAt(workspaceId, at);
}
