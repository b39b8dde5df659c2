// GET /v1/audit (filtered, position-paged), GET /v1/keys/:idOrHandle/history (timeline + rotation lineage),
// GET /v1/workspaces/:id/keys?validAt= (keys that would have verified at an instant). All need audit:read.
import { tenants, type Caller } from '../http/auth.js';
import { HttpError, permissionDenied } from '../http/errors.js';
import { route, type RouteDef } from '../http/route.js';
import { arr, int, nullable, obj, str, type Schema } from '../http/schema.js';
import { keyJson, keySchema } from '../http/views.js';
import { NotFoundError } from '../../events/errors.js';
import type { Ledger } from '../ledger.js';
import type { AuditContext } from './context.js';
import { auditFilterQuery, parseAuditFilters, type AuditFilters } from './filters.js';
import { auditKey, auditWorkspace, parseInstant, type AuditPermission } from './point-in-time.js';
import { decodeCursor, keyEvents, keysValidAt, lineage, listAudit, type AuditOrder } from './queries.js';

export const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;

const itemSchema: Schema = obj({
  position: int(),
  id: str(),
  type: str(),
  occurredAt: str({ format: 'date-time' }),
  streamId: str(),
  keyId: nullable(str()),
  userId: nullable(str()),
  workspaceId: nullable(str()),
  actor: obj({ type: nullable(str()), id: nullable(str()) }),
  request: obj({ ip: nullable(str()), userAgent: nullable(str()), requestId: nullable(str()) }),
  scheme: nullable(str({ description: 'how the token was presented (ApiKeyUsed)' })),
  tokenDigest: nullable(str({ description: 'SHA-256 of the token (ApiKeyCreated)' })),
  chain: str({ description: 'hash-chain value after this event' }),
  event: obj({ data: obj({}), metadata: obj({}) }),
});

/** Waits until audit.db holds everything this process's read model has applied: a client sees its own writes. */
async function caughtUp(actx: AuditContext): Promise<void> {
  if (actx.projection.failed) throw new HttpError(503, 'audit_unavailable', 'The audit projection is stopped; audit queries are unavailable.');
  await actx.projection.caughtUp(actx.ledger.read.position);
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_LIMIT)) {
    throw new HttpError(400, 'invalid', `limit must be between 1 and ${MAX_LIMIT}.`, { attr: 'limit', type: 'validation_error', extra: { max: MAX_LIMIT } });
  }
  return n;
}

/**
 * Which workspaces a caller may read (or export) the audit trail of: null means all (a system admin on a session).
 * Everyone else sees only events about workspaces where their role (and key scopes) grant the permission;
 * a workspaceId or keyId filter outside those is refused (404 when the caller is not in its workspace at all).
 * GET /v1/audit (audit:read) and the export (audit:export) both scope through here and auditWhere.
 */
export function auditScope(ledger: Ledger, caller: Caller, f: AuditFilters, permission: AuditPermission = 'audit:read'): string[] | null {
  if (f.workspaceId !== undefined) auditWorkspace(ledger, caller, f.workspaceId, permission);
  if (f.keyId !== undefined) {
    const k = ledger.read.findKey(f.keyId);
    if (!k) throw new NotFoundError('key', f.keyId);
    auditKey(ledger, caller, k.id, permission);
  }
  const mine = tenants(ledger, caller, permission === 'audit:read' ? 'audit.read' : 'audit.export');
  if (mine !== null && mine.length === 0) throw permissionDenied(permission);
  return mine;
}

export function auditQueryRoutes(actx: AuditContext): RouteDef[] {
  const { ledger } = actx;
  return [
    route({
      method: 'GET',
      path: '/v1/audit',
      summary: 'Audit events, newest first (or oldest first), filtered and paged by ledger position',
      tag: 'audit',
      auth: 'required',
      query: {
        ...auditFilterQuery,
        cursor: str({ maxLength: 64, description: 'nextCursor of the previous page' }),
        limit: str({ pattern: '^[0-9]{1,9}$', description: `page size, 1–${MAX_LIMIT} (default ${DEFAULT_LIMIT})` }),
        order: str({ enum: ['desc', 'asc'], description: 'desc (default, newest first) or asc (oldest first)' }),
      },
      responses: {
        200: { description: 'one page', schema: obj({ items: arr(itemSchema), nextCursor: nullable(str()), hasMore: { type: 'boolean' } }) },
        400: { description: 'invalid filter, cursor or limit' },
        403: { description: 'no audit:read' },
      },
      handler: async ({ caller, query }) => {
        const filters = parseAuditFilters(query);
        const limit = parseLimit(query.limit);
        const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor);
        const scope = auditScope(ledger, caller, filters);
        await caughtUp(actx);
        return listAudit(actx.db.db, { filters, scope, cursor, limit, order: (query.order ?? 'desc') as AuditOrder });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/keys/:idOrHandle/history',
      summary: "A key's whole audit timeline with its rotation lineage (predecessors and successors, transitively)",
      tag: 'audit',
      auth: 'required',
      responses: {
        200: {
          description: 'the key, its lineage (ids, oldest first) and every event of every key in it, oldest first',
          schema: obj({ key: keySchema, lineage: obj({ predecessors: arr(str()), successors: arr(str()) }), events: arr(itemSchema) }),
        },
        403: { description: 'no audit:read in the key’s workspace' },
        404: { description: 'unknown key' },
      },
      handler: async ({ caller, params }) => {
        const k = auditKey(ledger, caller, params.idOrHandle!);
        await caughtUp(actx);
        const l = lineage(actx.db.db, k.id);
        return { key: keyJson(ledger, k), lineage: l, events: keyEvents(actx.db.db, [...l.predecessors, k.id, ...l.successors]) };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/workspaces/:id/keys',
      summary: 'Keys that would have verified for this workspace at validAt (default: now), oldest first',
      tag: 'audit',
      auth: 'required',
      query: { validAt: str({ format: 'date-time', description: 'the instant (ISO-8601); default now' }) },
      responses: {
        200: {
          description: 'the keys valid at that instant, sorted by createdAt then id',
          schema: obj({
            validAt: str({ format: 'date-time' }),
            workspaceId: str(),
            count: int(),
            items: arr(
              obj({
                id: str(),
                name: str(),
                handle: nullable(str()),
                userId: str(),
                start: str(),
                createdAt: str({ format: 'date-time' }),
                expiresAt: nullable(str({ format: 'date-time' })),
              }),
            ),
          }),
        },
        403: { description: 'no audit:read in the workspace' },
        404: { description: 'unknown workspace' },
      },
      handler: async ({ caller, params, query }) => {
        const ws = auditWorkspace(ledger, caller, params.id!);
        const at = query.validAt === undefined ? ledger.clock().getTime() : parseInstant(query.validAt, 'validAt');
        await caughtUp(actx);
        const items = keysValidAt(actx.db.db, ws.id, at);
        return { validAt: new Date(at).toISOString(), workspaceId: ws.id, count: items.length, items };
      },
    }),
  ];
}
