// User administration: create, list, deactivate/reactivate, change one's own password, revoke all of a user's keys.
import type { AppContext } from '../app.js';
import { can, currentWorkspaceId, demand, roleIn } from '../auth.js';
import { HttpError, permissionDenied } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { arr, int, nullable, obj, str } from '../schema.js';
import { userJson, userSchema } from '../views.js';
import { checkPasswordStrength, verifyPassword } from '../../crypto/passwords.js';
import { NotFoundError } from '../../../events/errors.js';
import { page, paginationQuery } from './pagination.js';
import type { Caller } from '../auth.js';
import type { UserView } from '../../../projections/views.js';
import type { WorkspaceRole } from '../../../events/catalog.js';
import type { Ledger } from '../../ledger.js';

const RANK: Record<WorkspaceRole, number> = { owner: 3, admin: 2, member: 1, auditor: 1 };

/**
 * Whether the caller may manage `user`: a system admin only by a system admin; anyone else through a workspace they
 * share where the caller holds users:manage and ranks at least as high as the user (an admin never manages the owner).
 */
function manageable(ledger: Ledger, caller: Caller, user: UserView): boolean {
  if (caller.user.systemRole === 'admin') return can(ledger, caller, 'users:manage');
  if (user.systemRole === 'admin') return false;
  for (const ws of ledger.readModel.workspaces.values()) {
    const theirs = ws.members.get(user.id)?.role;
    const mine = roleIn(ledger, caller, ws.id);
    if (theirs && mine && RANK[mine] >= RANK[theirs] && can(ledger, caller, 'users:manage', ws.id)) return true;
  }
  return false;
}

/** A user the caller may manage; 403 when they share a workspace but the caller may not, 404 when the user is not visible. */
function target(ledger: Ledger, caller: Caller, id: string): UserView {
  const u = ledger.readModel.users.get(id);
  if (u && manageable(ledger, caller, u)) return u;
  const shared =
    u !== undefined && [...ledger.readModel.workspaces.values()].some((ws) => ws.members.get(u.id)?.role && roleIn(ledger, caller, ws.id) !== null);
  if (shared) throw permissionDenied('users:manage');
  throw new NotFoundError('user', id);
}

function strongPassword(p: unknown, attr: string): string {
  const problem = checkPasswordStrength(p);
  if (problem) throw new HttpError(400, 'weak_password', problem, { attr, type: 'validation_error' });
  return p as string;
}

export function userRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  return [
    route({
      method: 'POST',
      path: '/v1/users',
      summary: 'Create a user (admin); adds them to a workspace',
      tag: 'users',
      auth: 'required',
      body: obj(
        {
          email: str({ format: 'email', maxLength: 320 }),
          name: str({ minLength: 1, maxLength: 200 }),
          password: str({ maxLength: 1024 }),
          workspaceId: str({ maxLength: 64 }),
          role: str({ enum: ['owner', 'admin', 'member', 'auditor'] }),
          systemRole: str({ enum: ['admin', 'user'] }),
        },
        ['email', 'name', 'password'],
      ),
      responses: { 201: { description: 'created', schema: userSchema }, 409: { description: 'e-mail taken' } },
      handler: async ({ ctx, body, caller, command }) => {
        const workspaceId = (body.workspaceId as string | undefined) ?? currentWorkspaceId(caller);
        demand(ledger, caller, 'users:manage', workspaceId);
        if (body.systemRole === 'admin' && caller.user.systemRole !== 'admin') throw permissionDenied('system admin');
        if (body.role === 'owner' && ledger.roleOf(workspaceId ?? '', caller.user.id) !== 'owner' && caller.user.systemRole !== 'admin')
          throw permissionDenied('owner');
        const u = await ledger.registerUser(
          {
            email: body.email as string,
            name: body.name as string,
            password: strongPassword(body.password, 'password'),
            systemRole: body.systemRole ?? 'user',
            workspaceId,
            role: body.role ?? 'member',
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
      summary: 'List users you manage',
      tag: 'users',
      auth: 'required',
      query: paginationQuery,
      responses: { 200: { description: 'users', schema: obj({ items: arr(userSchema), nextCursor: nullable(str()) }) } },
      handler: ({ caller, query }) => {
        if (!can(ledger, caller, 'users:manage')) throw permissionDenied('users:manage');
        const all = [...ledger.readModel.users.values()].filter((u) => manageable(ledger, caller, u));
        const p = page(all, query, { order: 'asc' });
        return { items: p.items.map(userJson), nextCursor: p.nextCursor };
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/users/me/password',
      summary: 'Change your own password (ends your other sessions)',
      tag: 'users',
      auth: 'required',
      body: obj({ currentPassword: str({ maxLength: 1024 }), newPassword: str({ maxLength: 1024 }) }, ['currentPassword', 'newPassword']),
      responses: { 204: { description: 'changed' }, 400: { description: 'wrong current password or weak new one' } },
      handler: async ({ ctx, body, caller, command }) => {
        if (!(await verifyPassword(caller.user.passwordHash, body.currentPassword as string))) {
          throw new HttpError(400, 'invalid_credentials', 'The current password is incorrect.', { attr: 'currentPassword', type: 'validation_error' });
        }
        await ledger.changePassword(caller.user.id, strongPassword(body.newPassword, 'newPassword'), command);
        ctx.status = 204;
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/v1/users/:id',
      summary: 'One user',
      tag: 'users',
      auth: 'required',
      responses: { 200: { description: 'the user', schema: userSchema }, 404: { description: 'unknown user' } },
      handler: ({ caller, params }) => {
        if (params.id === caller.user.id || params.id === 'me') return userJson(caller.user);
        return userJson(target(ledger, caller, params.id!));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/users/:id/deactivate',
      summary: 'Deactivate a user: their sessions and keys stop at once',
      tag: 'users',
      auth: 'required',
      body: obj({ reason: str({ maxLength: 500 }) }),
      bodyRequired: false,
      responses: { 200: { description: 'deactivated', schema: userSchema } },
      handler: async ({ caller, params, body, command }) => {
        const u = target(ledger, caller, params.id!);
        if (u.id === caller.user.id) throw new HttpError(400, 'cannot_deactivate_self', 'You cannot deactivate yourself.');
        await ledger.deactivateUser(u.id, (body.reason as string | undefined) ?? null, command);
        return userJson(ledger.user(u.id));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/users/:id/reactivate',
      summary: 'Reactivate a user',
      tag: 'users',
      auth: 'required',
      responses: { 200: { description: 'reactivated', schema: userSchema } },
      handler: async ({ caller, params, command }) => {
        const u = target(ledger, caller, params.id!);
        await ledger.reactivateUser(u.id, command);
        return userJson(ledger.user(u.id));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/users/:id/keys/revoke',
      summary: "Revoke all of a user's keys",
      tag: 'users',
      auth: 'required',
      body: obj({ reason: str({ maxLength: 500 }) }),
      bodyRequired: false,
      responses: { 200: { description: 'revoked', schema: obj({ revoked: int() }) } },
      handler: async ({ caller, params, body, command }) => {
        const self = params.id === caller.user.id || params.id === 'me';
        // Your own keys need keys:revoke (for a key: among its effective scopes) or users:manage; others' need target().
        if (self && !can(ledger, caller, 'keys:revoke') && !can(ledger, caller, 'users:manage')) throw permissionDenied('keys:revoke');
        const u = self ? caller.user : target(ledger, caller, params.id!);
        const n = await ledger.revokeAllKeys(u.id, (body.reason as string | undefined) ?? null, command);
        return { revoked: n };
      },
    }),
  ];
}
