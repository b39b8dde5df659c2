// GET /v1/audit (filtered, position-paged), GET /v1/keys/:idOrHandle/history (timeline + rotation lineage),
// GET /v1/workspaces/:id/keys?validAt= (keys that would have verified at an instant). All need audit:read.
import { tenants, type Caller } from '../http/auth.js';
import { HttpError, permissionDenied } from '../http/errors.js';
import { route, type RouteDef } from '../http/route.js';
import { z } from 'zod';
import { anyObject, instantOut, keyJson, keySchema } from '../http/views.js';
import { dateTime } from '../schemas/inputs.js';
import { NotFoundError } from '../domain/errors.js';
import type { Ledger } from '../ledger.js';
import type { AuditContext } from './context.js';
import { auditFilterQuery, parseAuditFilters, type AuditFilters } from './filters.js';
import { auditKey, auditWorkspace, parseInstant, type AuditPermission } from './point-in-time.js';
import { decodeCursor, keyEvents, keysValidAt, lineage, listAudit, type AuditOrder } from './queries.js';

export const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;

const itemSchema = z.object({
  position: z.int(),
  id: z.string(),
  type: z.string(),
  occurredAt: instantOut,
  streamId: z.string(),
  keyId: z.string().nullable(),
  userId: z.string().nullable(),
  workspaceId: z.string().nullable(),
  actor: z.object({ type: z.string().nullable(), id: z.string().nullable() }),
  request: z.object({ ip: z.string().nullable(), userAgent: z.string().nullable(), requestId: z.string().nullable() }),
  scheme: z.string().nullable().describe('how the token was presented (ApiKeyUsed)'),
  tokenDigest: z.string().nullable().describe('SHA-256 of the token (ApiKeyCreated)'),
  chain: z.string().describe('hash-chain value after this event'),
  event: z.looseObject({ data: anyObject, metadata: anyObject }),
});

/**
 * Waits until the audit store holds everything this process's read model has applied: a client sees its own writes,
 * and on a shared store every write any instance made before it that this instance has seen.
 */
async function caughtUp(actx: AuditContext): Promise<void> {
  if (actx.projection.failed)
    throw new HttpError(503, 'audit_unavailable', 'The audit projection is stopped; audit queries are unavailable.');
  await actx.projection.caughtUp(actx.ledger.read.position);
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_LIMIT)) {
    throw new HttpError(400, 'invalid', `limit must be between 1 and ${MAX_LIMIT}.`, {
      attr: 'limit',
      type: 'validation_error',
      extra: { max: MAX_LIMIT },
    });
  }
  return n;
}

/**
 * Which workspaces a caller may read (or export) the audit trail of: null means all (a system admin on a session).
 * Everyone else sees only events about workspaces where their role (and key scopes) grant the permission;
 * a workspaceId or keyId filter outside those is refused (404 when the caller is not in its workspace at all).
 * GET /v1/audit (audit:read) and the export (audit:export) both scope through here and auditWhere.
 */
export function auditScope(
  ledger: Ledger,
  caller: Caller,
  f: AuditFilters,
  permission: AuditPermission = 'audit:read',
): string[] | null {
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
        cursor: z.string().max(64).describe('nextCursor of the previous page'),
        limit: z
          .string()
          .regex(/^[0-9]{1,9}$/)
          .describe(`page size, 1–${MAX_LIMIT} (default ${DEFAULT_LIMIT})`),
        order: z.enum(['desc', 'asc']).describe('desc (default, newest first) or asc (oldest first)'),
      },
      responses: {
        200: {
          description: 'one page',
          schema: z.object({ items: z.array(itemSchema), nextCursor: z.string().nullable(), hasMore: z.boolean() }),
        },
        400: { description: 'invalid filter, cursor or limit' },
        403: { description: 'no audit:read' },
      },
      handler: async ({ caller, query }) => {
        const filters = parseAuditFilters(query);
        const limit = parseLimit(query.limit);
        const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor);
        const scope = auditScope(ledger, caller, filters);
        await caughtUp(actx);
        const order: AuditOrder = query.order ?? 'desc';
        return listAudit(actx.store, { filters, scope, cursor, limit, order });
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
          schema: z.object({
            key: keySchema,
            lineage: z.object({ predecessors: z.array(z.string()), successors: z.array(z.string()) }),
            events: z.array(itemSchema),
          }),
        },
        403: { description: 'no audit:read in the key’s workspace' },
        404: { description: 'unknown key' },
      },
      handler: async ({ caller, params }) => {
        const k = auditKey(ledger, caller, params.idOrHandle!);
        await caughtUp(actx);
        const l = await lineage(actx.store, k.id);
        return {
          key: keyJson(ledger, k),
          lineage: l,
          events: await keyEvents(actx.store, [...l.predecessors, k.id, ...l.successors]),
        };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/workspaces/:id/keys',
      summary: 'Keys that would have verified for this workspace at validAt (default: now), oldest first',
      tag: 'audit',
      auth: 'required',
      query: { validAt: dateTime.describe('the instant (ISO-8601); default now') },
      responses: {
        200: {
          description: 'the keys valid at that instant, sorted by createdAt then id',
          schema: z.object({
            validAt: instantOut,
            workspaceId: z.string(),
            count: z.int(),
            items: z.array(
              z.object({
                id: z.string(),
                name: z.string(),
                handle: z.string().nullable(),
                userId: z.string(),
                start: z.string(),
                createdAt: instantOut,
                expiresAt: instantOut.nullable(),
              }),
            ),
          }),
        },
        403: { description: 'no audit:read in the workspace' },
        404: { description: 'unknown workspace' },
      },
      handler: async ({ caller, params, query }) => {
        const ws = auditWorkspace(ledger, caller, params.id!);
        const at = query.validAt === undefined ? ledger.now() : parseInstant(query.validAt, 'validAt');
        await caughtUp(actx);
        const items = await keysValidAt(actx.store, ws.id, at);
        return { validAt: new Date(at).toISOString(), workspaceId: ws.id, count: items.length, items };
      },
    }),
  ];
}
