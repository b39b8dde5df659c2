// Accounts: create, list, read, deactivate/reactivate, lift a lockout, change one's own password, revoke a user's keys.
// Who may do what is the policy's (services/domain/policy.ts); these handlers only ask it.
import type { AppContext } from '../context.js';
import { allowed, authorize, currentWorkspaceId, type Caller } from '../auth.js';
import { HttpError } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { z } from 'zod';
import { createAccountInput, password, reason, workspaceId as workspaceIdSchema } from '../../schemas/inputs.js';
import { userJson, userSchema } from '../views.js';
import { verifyPassword } from '../../crypto/passwords.js';
import { NotFoundError } from '../../domain/errors.js';
import type { UserView } from '../../../projections/read-model/views.js';
import { accountResource, enforce, keyResource } from '../../access.js';
import { can, type Operation } from '../../domain/policy.js';
import type { Ledger } from '../../ledger.js';
import { requestMeta } from '../context.js';
import { accountKey, throttled } from '../password-guard.js';
import { page, paginationQuery } from './pagination.js';

type AccountOperation = Extract<
  Operation,
  'account.read' | 'account.deactivate' | 'account.reactivate' | 'account.unlock'
>;

/** The account addressed by id (or "me"), if the policy lets the caller do `op` on it: 404 outside its tenants. */
function target(ledger: Ledger, caller: Caller, id: string, op: AccountOperation): UserView {
  const userId = id === 'me' ? caller.user.id : id;
  const u = ledger.read.findUser(userId);
  if (!u) throw new NotFoundError('user', id);
  authorize(caller, op, accountResource(ledger.read, u.id), { what: 'user', id });
  return u;
}

export function userRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  return [
    route({
      method: 'POST',
      path: '/v1/users',
      summary: 'Create an account in a workspace (users:manage there; never more power than the caller has)',
      tag: 'users',
      auth: 'required',
      body: createAccountInput,
      responses: { 201: { description: 'created', schema: userSchema }, 409: { description: 'e-mail taken' } },
      handler: async ({ ctx, body, caller, command }) => {
        const workspaceId = body.workspaceId === null ? null : (body.workspaceId ?? currentWorkspaceId(caller));
        const role = body.role ?? 'member';
        const systemAdmin = body.systemRole === 'admin';
        authorize(
          caller,
          'account.create',
          { kind: 'new-account', workspaceId, role, systemAdmin },
          { what: 'workspace', id: workspaceId ?? '' },
        );
        const u = await ledger.users.register(
          {
            email: body.email,
            name: body.name,
            password: body.password,
            systemRole: systemAdmin ? 'admin' : 'user',
            workspaceId,
            role,
          },
          command,
        );
        ctx.status = 201;
        return userJson(u);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/users',
      summary:
        'Accounts you may see: every account for a system admin, else the members of workspaces where you hold users:manage',
      tag: 'users',
      auth: 'required',
      query: paginationQuery,
      responses: {
        200: {
          description: 'users',
          schema: z.object({ items: z.array(userSchema), nextCursor: z.string().nullable() }),
        },
      },
      handler: ({ caller, query }) => {
        authorize(caller, 'account.list', { kind: 'none' }, { what: 'users', id: '' });
        const all = [...ledger.read.users()].filter((u) =>
          allowed(caller, 'account.read', accountResource(ledger.read, u.id)),
        );
        const p = page(all, query, { order: 'asc' });
        return { items: p.items.map(userJson), nextCursor: p.nextCursor };
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/users/me/password',
      summary:
        'Change your own password from a login session, with the current one (shares the login throttle; ends your sessions)',
      tag: 'users',
      auth: 'required',
      body: z.strictObject({ currentPassword: password, newPassword: password }),
      responses: {
        204: { description: 'changed' },
        400: { description: 'wrong current password or weak new one' },
        403: { description: 'session_required: an API key cannot change a password' },
        429: { description: 'throttled, like logins' },
      },
      handler: async ({ ctx, body, caller, command }) => {
        authorize(caller, 'account.password', accountResource(ledger.read, caller.user.id), { what: 'user', id: 'me' });
        const key = accountKey(caller.user.email);
        const ip = requestMeta(ctx).ip;
        const outcome = await env.passwords.attempt(
          key,
          ip,
          () => verifyPassword(caller.user.passwordHash, body.currentPassword),
          () => ledger.users.recordPasswordChangeFailure(caller.user.id, 'bad_password', command),
        );
        if (!outcome.ok && outcome.retryAfter !== null) {
          if (env.passwords.firstThrottle(key, ip))
            await ledger.users.recordPasswordChangeFailure(caller.user.id, 'throttled', command);
          env.httpMetrics.throttled('password_change');
          throw throttled(outcome.retryAfter);
        }
        if (!outcome.ok) {
          throw new HttpError(400, 'invalid_credentials', 'The current password is incorrect.', {
            attr: 'currentPassword',
            type: 'validation_error',
          });
        }
        await ledger.users.changePassword(caller.user.id, body.newPassword, command);
        ctx.status = 204;
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/v1/users/:id',
      summary: 'One account (yourself, or a member of a workspace where you hold users:manage)',
      tag: 'users',
      auth: 'required',
      responses: {
        200: { description: 'the user', schema: userSchema },
        404: { description: 'unknown user, or not yours to see' },
      },
      handler: ({ caller, params }) => userJson(target(ledger, caller, params.id!, 'account.read')),
    }),
    route({
      method: 'POST',
      path: '/v1/users/:id/deactivate',
      summary: 'Deactivate an account (system admins): its sessions and keys stop at once, in every workspace',
      tag: 'users',
      auth: 'required',
      body: z.strictObject({ reason: reason.optional() }),
      bodyRequired: false,
      responses: { 200: { description: 'deactivated', schema: userSchema } },
      handler: async ({ caller, params, body, command }) => {
        const u = target(ledger, caller, params.id!, 'account.deactivate');
        if (u.id === caller.user.id)
          throw new HttpError(400, 'cannot_deactivate_self', 'You cannot deactivate yourself.');
        await ledger.users.deactivate(u.id, body.reason ?? null, command);
        return userJson(ledger.read.user(u.id));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/users/:id/reactivate',
      summary: 'Reactivate an account (system admins)',
      tag: 'users',
      auth: 'required',
      responses: { 200: { description: 'reactivated', schema: userSchema } },
      handler: async ({ caller, params, command }) => {
        const u = target(ledger, caller, params.id!, 'account.reactivate');
        await ledger.users.reactivate(u.id, command);
        return userJson(ledger.read.user(u.id));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/users/:id/unlock',
      summary: "Lift an account's failed-login lockout (system admins); recorded as UserLockoutLifted",
      tag: 'users',
      auth: 'required',
      responses: { 200: { description: 'lifted', schema: userSchema } },
      handler: async ({ caller, params, command }) => {
        const u = target(ledger, caller, params.id!, 'account.unlock');
        await ledger.users.liftLockout(u.id, command);
        return userJson(ledger.read.user(u.id));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/users/:id/keys/revoke',
      summary:
        "Revoke a user's keys: a system admin, everywhere; you, your own (a key: only in its workspace); a workspace admin, the member's keys there",
      tag: 'users',
      auth: 'required',
      body: z.strictObject({
        reason: reason.optional(),
        workspaceId: workspaceIdSchema.optional().describe('only keys of this workspace'),
      }),
      bodyRequired: false,
      responses: {
        200: {
          description: 'revoked',
          schema: z.object({ revoked: z.int(), skipped: z.int().describe('live keys you can see but may not revoke') }),
        },
        403: { description: 'none of the keys are yours to revoke' },
      },
      handler: async ({ caller, params, body, command }) => {
        const u = target(ledger, caller, params.id!, 'account.read');
        const inScope = (ws: string): boolean => body.workspaceId === undefined || ws === body.workspaceId;
        // Keys outside the caller's reach are neither revoked nor counted (their existence is not the caller's business).
        const inReach = (ledger.read.keysOf(u.id) ?? [])
          .filter((k) => k.revokedAt === null && inScope(k.workspaceId))
          .map((k) => ({ k, d: can(caller.actor, 'key.revoke', keyResource(k)) }))
          .filter((x) => x.d.allow || x.d.code !== 'not_found');
        const mine = inReach.filter((x) => x.d.allow).map((x) => x.k);
        // Keys you can see but not one of them yours to revoke: refuse, naming why, instead of a silent 0.
        const refused = inReach.find((x) => !x.d.allow);
        if (mine.length === 0 && refused !== undefined) enforce(refused.d, { what: 'key', id: refused.k.id });
        const ids = new Set(mine.map((k) => k.id));
        const n = await ledger.keys.revokeAll(u.id, body.reason ?? null, command, (k) => ids.has(k.id));
        return { revoked: n, skipped: inReach.length - mine.length };
      },
    }),
  ];
}
