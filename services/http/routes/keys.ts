// API keys: create (token shown once), list, read, reveal (retrievable only), update, revoke, rotate, verify.
import type { AppContext } from '../app.js';
import { can, demand, type Caller } from '../auth.js';
import { HttpError, permissionDenied } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { arr, bool, int, nullable, obj, str, type Schema } from '../schema.js';
import { keyJson, keySchema, keyStatus } from '../views.js';
import { NotFoundError } from '../../../events/errors.js';
import type { KeyView } from '../../../projections/views.js';
import { parseDuration } from '../../duration.js';
import { isValidScope } from '../../domain/permissions.js';
import type { Ledger } from '../../ledger.js';
import { page, paginationQuery } from './pagination.js';
import { auditKey, keyAsOf, parseAsOf } from '../../audit/point-in-time.js';

const HANDLE = '^[a-z0-9][a-z0-9._-]{0,62}$';
const scopeList = arr(str({ maxLength: 100 }), { maxItems: 100 });
const duration: Schema = { oneOf: [int({ minimum: 1 }), str({ pattern: '^[0-9]{1,10}[smhdw]?$' })], description: 'seconds, or 30d / 12h / 15m' };

export const createKeySchema = obj(
  {
    name: str({ minLength: 1, maxLength: 200 }),
    description: nullable(str({ maxLength: 1000 })),
    handle: str({ pattern: HANDLE, description: 'unique per user; the key can be addressed by it' }),
    alias: nullable(str({ maxLength: 200 })),
    workspaceId: str({ maxLength: 64 }),
    scopes: nullable(scopeList),
    expiresAt: nullable(str({ format: 'date-time' })),
    expiresIn: nullable(duration),
    format: str({ enum: ['opaque', 'jwt'] }),
    retrievable: bool(),
  },
  ['name'],
);

export const verifyBodySchema = obj({ token: str({ maxLength: 8192 }), scopes: scopeList }, ['token']);

function checkScopes(scopes: unknown): string[] | null {
  if (scopes === undefined || scopes === null) return null;
  for (const [i, s] of (scopes as string[]).entries()) {
    if (!isValidScope(s))
      throw new HttpError(400, 'invalid_scope', `scopes[${i}] must look like "resource:action"`, { attr: `scopes[${i}]`, type: 'validation_error' });
  }
  return scopes as string[];
}

/** The key addressed by id or by one of the caller's handles, if the caller may see it. */
export function visibleKey(ledger: Ledger, caller: Caller, idOrHandle: string, permission = 'keys:read'): KeyView {
  const k = ledger.readModel.findKey(caller.user.id, idOrHandle);
  const own = k !== undefined && k.owner.id === caller.user.id;
  if (!k || (!own && !can(ledger, caller, 'keys:manage', k.workspaceId))) throw new NotFoundError('key', idOrHandle);
  demand(ledger, caller, permission, k.workspaceId);
  return k;
}

export function keyRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  return [
    route({
      method: 'POST',
      path: '/v1/keys',
      summary: 'Create an API key; the token is in this response only (unless retrievable)',
      tag: 'keys',
      auth: 'required',
      body: createKeySchema,
      responses: {
        201: { description: 'created', schema: obj({ ...(keySchema as { properties: Record<string, Schema> }).properties, token: str() }) },
        400: { description: 'invalid input or policy violation' },
        409: { description: 'handle taken' },
      },
      handler: async ({ ctx, body, caller, command }) => {
        const workspaceId = (body.workspaceId as string | undefined) ?? caller.key?.workspaceId ?? caller.user.defaultWorkspaceId;
        demand(ledger, caller, 'keys:create', workspaceId);
        if (body.expiresAt != null && body.expiresIn != null) {
          throw new HttpError(400, 'invalid', 'Give expiresAt or expiresIn, not both.', { attr: 'expiresIn', type: 'validation_error' });
        }
        const scopes = checkScopes(body.scopes);
        // A key cannot grant more than the key that created it.
        if (caller.key && caller.key.scopes !== null && (scopes === null || scopes.some((s) => !caller.key!.scopes!.has(s)))) {
          throw permissionDenied('scopes beyond the calling key');
        }
        const expiresInSeconds = body.expiresIn == null ? null : parseDuration(body.expiresIn);
        if (body.expiresIn != null && expiresInSeconds === null) {
          throw new HttpError(400, 'invalid', 'expiresIn must be seconds or a duration such as 30d, 12h or 15m.', {
            attr: 'expiresIn',
            type: 'validation_error',
          });
        }
        const { key, token } = await ledger.createKey(
          {
            userId: caller.user.id,
            workspaceId,
            name: body.name as string,
            description: body.description ?? null,
            handle: body.handle ?? null,
            alias: body.alias ?? null,
            scopes,
            expiresAt: body.expiresAt == null ? null : new Date(body.expiresAt as string),
            expiresInSeconds,
            format: body.format ?? 'opaque',
            retrievable: body.retrievable === true,
          },
          command,
        );
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        return { ...keyJson(ledger, key), token };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/keys',
      summary: 'Your keys, newest first',
      tag: 'keys',
      auth: 'required',
      query: { ...paginationQuery, status: str({ enum: ['active', 'expired', 'revoked'] }), workspaceId: str({ maxLength: 64 }) },
      responses: { 200: { description: 'keys', schema: obj({ items: arr(keySchema), nextCursor: nullable(str()) }) } },
      handler: ({ caller, query }) => {
        demand(ledger, caller, 'keys:read', query.workspaceId ?? null);
        const now = ledger.clock().getTime();
        const mine = [...(ledger.readModel.keysByUser.get(caller.user.id) ?? [])]
          .reverse()
          .filter(
            (k) =>
              (query.status === undefined || keyStatus(k, now) === query.status) && (query.workspaceId === undefined || k.workspaceId === query.workspaceId),
          )
          .filter((k) => caller.key === null || k.workspaceId === caller.key.workspaceId);
        const p = page(mine, query);
        return { items: p.items.map((k) => keyJson(ledger, k)), nextCursor: p.nextCursor };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/keys/verify',
      summary: 'Verify a token for another service; reports, never denies (200 with valid:false)',
      tag: 'verification',
      auth: 'required',
      body: verifyBodySchema,
      responses: { 200: { description: 'the verdict', schema: obj({ valid: bool(), code: str(), key: nullable(keySchema) }) } },
      handler: ({ caller, body }) => {
        demand(ledger, caller, 'keys:verify');
        return verifyResponse(ledger, body.token as string, body.scopes as string[] | undefined, caller);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/keys/:idOrHandle',
      summary: 'One key by id or handle; never includes the token. With ?asOf, the key as it was then (needs audit:read)',
      tag: 'keys',
      auth: 'required',
      query: { asOf: str({ maxLength: 64, description: 'ISO-8601 instant or ledger position: the key as it was then, with phase and at' }) },
      responses: {
        200: {
          description:
            'the key; with asOf, as it was then, plus phase (active, rotation_grace, expired, revoked), asOf, at, owner {id, active, role} then, and wouldVerify',
          schema: keySchema,
        },
        404: { description: 'unknown key, or not yet created at asOf' },
      },
      handler: async ({ caller, params, query }) => {
        if (query.asOf === undefined) return keyJson(ledger, visibleKey(ledger, caller, params.idOrHandle!));
        // Point in time: the key's own stream replayed up to asOf (services/audit/point-in-time.ts).
        return keyAsOf(ledger, auditKey(ledger, caller, params.idOrHandle!).id, parseAsOf(query.asOf));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/keys/:idOrHandle/token',
      summary: "A retrievable key's token; each reveal is recorded",
      tag: 'keys',
      auth: 'required',
      responses: { 200: { description: 'the token', schema: obj({ id: str(), token: str() }) }, 400: { description: 'not retrievable' } },
      handler: async ({ ctx, caller, params, command }) => {
        const k = visibleKey(ledger, caller, params.idOrHandle!);
        if (k.owner.id !== caller.user.id) throw new NotFoundError('key', params.idOrHandle!);
        const token = await ledger.revealKey(k.id, command);
        ctx.set('Cache-Control', 'no-store');
        return { id: k.id, token };
      },
    }),
    route({
      method: 'PATCH',
      path: '/v1/keys/:idOrHandle',
      summary: 'Rename or describe a key; expiry cannot be changed',
      tag: 'keys',
      auth: 'required',
      body: obj({
        name: str({ minLength: 1, maxLength: 200 }),
        description: nullable(str({ maxLength: 1000 })),
        alias: nullable(str({ maxLength: 200 })),
        expiresAt: nullable(str({ description: 'refused: expiry is set only at creation' })),
        expiresIn: nullable(duration),
      }),
      responses: { 200: { description: 'updated', schema: keySchema }, 400: { description: 'expiry cannot be changed' } },
      handler: async ({ caller, params, body, command }) => {
        if (body.expiresAt !== undefined || body.expiresIn !== undefined) {
          throw new HttpError(400, 'expiry_immutable', 'Expiry can be set only when a key is created.', {
            attr: body.expiresAt !== undefined ? 'expiresAt' : 'expiresIn',
            type: 'validation_error',
          });
        }
        const k = visibleKey(ledger, caller, params.idOrHandle!, 'keys:create');
        const updated = await ledger.updateKey(k.id, { name: body.name, description: body.description, alias: body.alias }, command);
        return keyJson(ledger, updated);
      },
    }),
    ...(['POST /revoke', 'DELETE '] as const).map((spec) => {
      const [method, suffix] = spec.split(' ') as ['POST' | 'DELETE', string];
      return route({
        method,
        path: `/v1/keys/:idOrHandle${suffix}`,
        summary: 'Revoke a key, permanently',
        tag: 'keys',
        auth: 'required',
        body: obj({ reason: nullable(str({ maxLength: 500 })) }),
        bodyRequired: false,
        responses: { 200: { description: 'revoked', schema: keySchema } },
        handler: async ({ caller, params, body, command }) => {
          const k = visibleKey(ledger, caller, params.idOrHandle!, 'keys:revoke');
          return keyJson(ledger, await ledger.revokeKey(k.id, (body?.reason as string | null | undefined) ?? null, command));
        },
      });
    }),
    route({
      method: 'POST',
      path: '/v1/keys/:idOrHandle/rotate',
      summary: 'Rotate: a new key now, the old one retired after the grace period',
      tag: 'keys',
      auth: 'required',
      body: obj({ gracePeriod: { oneOf: [int({ minimum: 0 }), str({ pattern: '^[0-9]{1,10}[smhdw]?$' })], description: 'seconds, or 1h / 7d; default 0' } }),
      bodyRequired: false,
      responses: {
        201: {
          description: 'the successor, with its token, and the predecessor as it now stands',
          schema: obj({ ...(keySchema as { properties: Record<string, Schema> }).properties, token: str(), predecessor: keySchema }),
        },
      },
      handler: async ({ ctx, caller, params, body, command }) => {
        const k = visibleKey(ledger, caller, params.idOrHandle!, 'keys:create');
        if (k.owner.id !== caller.user.id) throw permissionDenied('rotate another user’s key');
        const raw = body?.gracePeriod as number | string | undefined;
        const grace = raw === undefined ? 0 : parseDuration(raw, { allowZero: true }); // "0s" / "0h": retire the old key at once
        if (grace === null)
          throw new HttpError(400, 'invalid', 'gracePeriod must be seconds or a duration such as 1h.', { attr: 'gracePeriod', type: 'validation_error' });
        const { key, token } = await ledger.rotateKey(k.id, grace, command);
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        return { ...keyJson(ledger, key), token, predecessor: keyJson(ledger, ledger.key(k.id)) };
      },
    }),
  ];
}

export function verifyResponse(ledger: Ledger, token: string, scopes: string[] | undefined, caller: Caller): Record<string, unknown> {
  const r = ledger.verifyAndRecord(token, 'direct', { scopes });
  // Details only for keys in a workspace the caller may read; the verdict is always given.
  const showKey = r.key !== null && can(ledger, caller, 'keys:verify', r.key.workspaceId);
  return { valid: r.valid, code: r.code, key: showKey && r.key ? keyJson(ledger, r.key) : null };
}
