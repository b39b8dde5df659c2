// API keys: create (token shown once), list, read, reveal (retrievable only), update, revoke, rotate, verify.
import type { AppContext } from '../context.js';
import { allowed, authorize, currentWorkspaceId, tenants, type Caller } from '../auth.js';
import { HttpError } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { z } from 'zod';
import { instantOut, keyJson, keySchema, keyStatus } from '../views.js';
import { DomainError, NotFoundError } from '../../domain/errors.js';
import type { KeyView } from '../../../projections/read-model/views.js';
import { AccessDeniedError, keyResource } from '../../access.js';
import { parseDuration } from '../../duration.js';
import { parseIsoInstant } from '../../domain/instant.js';
import type { Operation } from '../../domain/policy.js';
import { createKeyInput, duration, gracePeriod, keyName, reason, scopes as scopeList } from '../../schemas/inputs.js';
import type { Ledger } from '../../ledger.js';
import { page, paginationQuery } from './pagination.js';
import { auditKey, keyAsOf, parseAsOf } from '../../audit/point-in-time.js';

export const verifyBodySchema = z.strictObject({ token: z.string().max(8192), scopes: scopeList.optional() });

const keyWithToken = keySchema.extend({ token: z.string() });

/** GET /v1/keys/:idOrHandle?asOf=…: the key as it was then, with what the point-in-time replay adds. */
const keyAsOfSchema = keySchema.extend({
  phase: z.enum(['active', 'rotation_grace', 'expired', 'revoked']).optional(),
  owner: z.object({ id: z.string(), active: z.boolean(), role: z.string().nullable() }).optional(),
  wouldVerify: z.boolean().optional(),
  asOf: z.union([z.string(), z.int()]).optional().describe('the asOf asked for: an instant or a ledger position'),
  at: instantOut.optional().describe('the instant the answer is for'),
});

type KeyOperation = Extract<Operation, 'key.read' | 'key.update' | 'key.reveal' | 'key.rotate' | 'key.revoke'>;

/** The key addressed by id or by one of the caller's handles, if the policy lets the caller do `op` on it. */
export function visibleKey(ledger: Ledger, caller: Caller, idOrHandle: string, op: KeyOperation): KeyView {
  const k = ledger.read.findKeyFor(caller.user.id, idOrHandle);
  if (!k) throw new NotFoundError('key', idOrHandle);
  authorize(caller, op, keyResource(k), { what: 'key', id: idOrHandle });
  return k;
}

/** An instant from a validated date-time string (UTC when it has no offset). */
function instant(raw: string, attr: string): Date {
  const ms = parseIsoInstant(raw);
  if (ms === null)
    throw new HttpError(400, 'invalid', `${attr} must be an ISO-8601 date-time that exists.`, {
      attr,
      type: 'validation_error',
    });
  return new Date(ms);
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
      body: createKeyInput,
      responses: {
        201: { description: 'created', schema: keyWithToken },
        400: { description: 'invalid input or policy violation' },
        409: { description: 'handle taken' },
      },
      handler: async ({ ctx, body, caller, command }) => {
        const workspaceId = body.workspaceId ?? currentWorkspaceId(caller);
        if (workspaceId === null)
          throw new DomainError('NO_WORKSPACE', 'you belong to no workspace; pass workspaceId', {
            attr: 'workspaceId',
          });
        const scopes = body.scopes ?? null;
        authorize(
          caller,
          'key.create',
          { kind: 'new-key', workspaceId, scopes },
          { what: 'workspace', id: workspaceId },
        );
        if (body.expiresAt != null && body.expiresIn != null) {
          throw new HttpError(400, 'invalid', 'Give expiresAt or expiresIn, not both.', {
            attr: 'expiresIn',
            type: 'validation_error',
          });
        }
        const name = body.name ?? body.handle;
        if (name === undefined)
          throw new HttpError(400, 'required', 'name is required (or give a handle, which then names the key).', {
            attr: 'name',
            type: 'validation_error',
          });
        const expiresInSeconds = body.expiresIn == null ? null : parseDuration(body.expiresIn);
        if (body.expiresIn != null && expiresInSeconds === null) {
          throw new HttpError(400, 'invalid', 'expiresIn must be seconds or a duration such as 30d, 12h or 15m.', {
            attr: 'expiresIn',
            type: 'validation_error',
          });
        }
        const { key, token } = await ledger.keys.create(
          {
            userId: caller.user.id,
            workspaceId,
            name,
            description: body.description ?? null,
            handle: body.handle ?? null,
            alias: body.alias ?? null,
            scopes,
            expiresAt: body.expiresAt == null ? null : instant(body.expiresAt, 'expiresAt'),
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
      query: { ...paginationQuery, status: z.enum(['active', 'expired', 'revoked']), workspaceId: z.string().max(64) },
      responses: {
        200: {
          description: 'keys',
          schema: z.object({ items: z.array(keySchema), nextCursor: z.string().nullable() }),
        },
      },
      handler: ({ caller, query }) => {
        const ws = query.workspaceId ?? currentWorkspaceId(caller);
        if (ws !== null)
          authorize(caller, 'key.list', { kind: 'workspace', workspaceId: ws }, { what: 'workspace', id: ws });
        const now = ledger.now();
        const mine = [...(ledger.read.keysOf(caller.user.id) ?? [])]
          .reverse()
          .filter(
            (k) =>
              (query.status === undefined || keyStatus(k, now) === query.status) &&
              (query.workspaceId === undefined || k.workspaceId === query.workspaceId),
          )
          .filter((k) => allowed(caller, 'key.read', keyResource(k)));
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
      responses: {
        200: {
          description: 'the verdict',
          schema: z.object({ valid: z.boolean(), code: z.string(), key: keySchema.nullable() }),
        },
      },
      handler: ({ caller, body }) => verifyResponse(ledger, body.token, body.scopes, caller),
    }),
    route({
      method: 'GET',
      path: '/v1/keys/:idOrHandle',
      summary:
        'One key by id or handle; never includes the token. With ?asOf, the key as it was then (needs audit:read)',
      tag: 'keys',
      auth: 'required',
      query: {
        asOf: z
          .string()
          .max(64)
          .describe('ISO-8601 instant or ledger position: the key as it was then, with phase and at'),
      },
      responses: {
        200: {
          description:
            'the key; with asOf, as it was then, plus phase (active, rotation_grace, expired, revoked), asOf, at, owner {id, active, role} then, and wouldVerify',
          schema: keyAsOfSchema,
        },
        404: { description: 'unknown key, or not yet created at asOf' },
      },
      handler: async ({ caller, params, query }) => {
        if (query.asOf === undefined)
          return keyJson(ledger, visibleKey(ledger, caller, params.idOrHandle!, 'key.read'));
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
      responses: {
        200: { description: 'the token', schema: z.object({ id: z.string(), token: z.string() }) },
        400: { description: 'not retrievable' },
      },
      handler: async ({ ctx, caller, params, command }) => {
        const k = visibleKey(ledger, caller, params.idOrHandle!, 'key.reveal');
        const token = await ledger.keys.reveal(k.id, command);
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
      body: z.strictObject({
        name: keyName.optional(),
        description: createKeyInput.shape.description,
        alias: createKeyInput.shape.alias,
        expiresAt: z.string().nullable().optional().describe('refused: expiry is set only at creation'),
        expiresIn: duration.nullable().optional(),
      }),
      responses: {
        200: { description: 'updated', schema: keySchema },
        400: { description: 'expiry cannot be changed' },
      },
      handler: async ({ caller, params, body, command }) => {
        if (body.expiresAt !== undefined || body.expiresIn !== undefined) {
          throw new HttpError(400, 'expiry_immutable', 'Expiry can be set only when a key is created.', {
            attr: body.expiresAt !== undefined ? 'expiresAt' : 'expiresIn',
            type: 'validation_error',
          });
        }
        const k = visibleKey(ledger, caller, params.idOrHandle!, 'key.update');
        const updated = await ledger.keys.update(
          k.id,
          { name: body.name, description: body.description, alias: body.alias },
          command,
        );
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
        body: z.strictObject({ reason: reason.nullable().optional() }),
        bodyRequired: false,
        responses: { 200: { description: 'revoked', schema: keySchema } },
        handler: async ({ caller, params, body, command }) => {
          const k = visibleKey(ledger, caller, params.idOrHandle!, 'key.revoke');
          return keyJson(ledger, await ledger.keys.revoke(k.id, body.reason ?? null, command));
        },
      });
    }),
    route({
      method: 'POST',
      path: '/v1/keys/:idOrHandle/rotate',
      summary: 'Rotate: a new key now, the old one retired after the grace period',
      tag: 'keys',
      auth: 'required',
      body: z.strictObject({ gracePeriod: gracePeriod.optional() }),
      bodyRequired: false,
      responses: {
        201: {
          description: 'the successor, with its token, and the predecessor as it now stands',
          schema: keyWithToken.extend({ predecessor: keySchema }),
        },
      },
      handler: async ({ ctx, caller, params, body, command }) => {
        const k = visibleKey(ledger, caller, params.idOrHandle!, 'key.rotate');
        const grace = body.gracePeriod === undefined ? 0 : parseDuration(body.gracePeriod, { allowZero: true }); // "0s" / "0h": retire the old key at once
        if (grace === null)
          throw new HttpError(400, 'invalid', 'gracePeriod must be seconds or a duration such as 1h.', {
            attr: 'gracePeriod',
            type: 'validation_error',
          });
        const { key, token } = await ledger.keys.rotate(k.id, grace, command);
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        return { ...keyJson(ledger, key), token, predecessor: keyJson(ledger, ledger.read.key(k.id)) };
      },
    }),
  ];
}

const FOREIGN = Object.freeze({ valid: false, code: 'NOT_FOUND', key: null });

/** May the caller verify tokens at all: keys:verify in its current workspace (any of them, for a session). */
export function demandVerifier(ledger: Ledger, caller: Caller): void {
  const ws = currentWorkspaceId(caller);
  if (ws !== null && allowed(caller, 'key.verify', { kind: 'workspace', workspaceId: ws })) return;
  if (tenants(ledger, caller, 'key.verify')?.length !== 0) return;
  throw new AccessDeniedError('PERMISSION_DENIED', 'keys:verify');
}

/** The verdict on a token, scoped to the caller's tenants: another tenant's key is answered as unknown, and not counted as used. */
export function verifyResponse(
  ledger: Ledger,
  token: string,
  scopes: string[] | undefined,
  caller: Caller,
): Record<string, unknown> {
  demandVerifier(ledger, caller);
  const now = ledger.now();
  const r = ledger.verify(token, { scopes, now });
  if (r.key === null) return { valid: false, code: r.code, key: null };
  if (!allowed(caller, 'key.verify', { kind: 'workspace', workspaceId: r.key.workspaceId })) return FOREIGN;
  if (r.valid) ledger.recordUse(r.key, 'direct', now, null, null);
  return { valid: r.valid, code: r.code, key: keyJson(ledger, r.key) };
}
