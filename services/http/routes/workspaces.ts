// Workspaces: create, list, set and remove members, and the key policy.
import type { AppContext } from '../app.js';
import { demand, roleIn } from '../auth.js';
import { HttpError, permissionDenied } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { arr, bool, int, nullable, obj, str } from '../schema.js';
import { workspaceJson, workspaceSchema } from '../views.js';
import { NotFoundError } from '../../../events/errors.js';
import type { WorkspaceRole } from '../../../events/catalog.js';
import { parseDuration } from '../../duration.js';

const durationSchema = { oneOf: [int({ minimum: 1 }), str({ pattern: '^[0-9]{1,10}[smhdw]?$' })], description: 'seconds, or 30d / 12h / 15m' } as const;

function seconds(v: unknown, attr: string): number | null {
  if (v === null || v === undefined) return null;
  const s = parseDuration(v);
  if (s === null) throw new HttpError(400, 'invalid', `${attr} must be a positive duration such as 3600 or 30d.`, { attr, type: 'validation_error' });
  return s;
}

export function workspaceRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  const visible = (caller: Parameters<typeof roleIn>[1], id: string) => {
    const ws = ledger.readModel.workspaces.get(id);
    if (!ws || ws.ownerId === '' || roleIn(ledger, caller, id) === null) throw new NotFoundError('workspace', id);
    return ws;
  };
  return [
    route({
      method: 'POST',
      path: '/v1/workspaces',
      summary: 'Create a workspace; you become its owner',
      tag: 'workspaces',
      auth: 'required',
      body: obj({ name: str({ minLength: 1, maxLength: 200 }) }, ['name']),
      responses: { 201: { description: 'created', schema: workspaceSchema } },
      handler: async ({ ctx, caller, body, command }) => {
        if (caller.key && caller.key.scopes !== null && !caller.key.scopes.has('workspaces:manage')) throw permissionDenied('workspaces:manage');
        const ws = await ledger.createWorkspace(body.name as string, caller.user.id, command);
        ctx.status = 201;
        return workspaceJson(ws, true);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/workspaces',
      summary: 'Workspaces you belong to',
      tag: 'workspaces',
      auth: 'required',
      responses: { 200: { description: 'workspaces', schema: obj({ items: arr(workspaceSchema) }) } },
      handler: ({ caller }) => {
        const items = [...ledger.readModel.workspaces.values()]
          .filter(
            (w) => w.ownerId !== '' && roleIn(ledger, caller, w.id) !== null && (caller.user.systemRole === 'admin' || w.members.get(caller.user.id)?.role),
          )
          .map((w) => ({ ...workspaceJson(w), role: ledger.roleOf(w.id, caller.user.id) }));
        return { items };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/workspaces/:id',
      summary: 'One workspace with its members',
      tag: 'workspaces',
      auth: 'required',
      responses: { 200: { description: 'the workspace', schema: workspaceSchema } },
      handler: ({ caller, params }) => workspaceJson(visible(caller, params.id!), true),
    }),
    route({
      method: 'PUT',
      path: '/v1/workspaces/:id/members/:userId',
      summary: "Set a member's role (adds the user when not yet a member)",
      tag: 'workspaces',
      auth: 'required',
      body: obj({ role: str({ enum: ['owner', 'admin', 'member', 'auditor'] }) }, ['role']),
      responses: { 200: { description: 'updated', schema: workspaceSchema }, 409: { description: 'would leave no owner' } },
      handler: async ({ caller, params, body, command }) => {
        const ws = visible(caller, params.id!);
        demand(ledger, caller, 'workspaces:manage', ws.id);
        const role = body.role as WorkspaceRole;
        const current = ledger.roleOf(ws.id, params.userId!);
        if ((role === 'owner' || current === 'owner') && roleIn(ledger, caller, ws.id) !== 'owner') throw permissionDenied('owner');
        await ledger.setMemberRole(ws.id, params.userId!, role, command);
        return workspaceJson(ledger.workspace(ws.id), true);
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/workspaces/:id/members/:userId',
      summary: 'Remove a member; their keys in this workspace stop at once',
      tag: 'workspaces',
      auth: 'required',
      responses: { 204: { description: 'removed' } },
      handler: async ({ ctx, caller, params, command }) => {
        const ws = visible(caller, params.id!);
        demand(ledger, caller, 'workspaces:manage', ws.id);
        if (ledger.roleOf(ws.id, params.userId!) === 'owner' && roleIn(ledger, caller, ws.id) !== 'owner') throw permissionDenied('owner');
        await ledger.removeMember(ws.id, params.userId!, command);
        ctx.status = 204;
        return undefined;
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/workspaces/:id/policy',
      summary: 'Set the key policy: maximum lifetime, required expiry, maximum rotation grace',
      tag: 'workspaces',
      auth: 'required',
      body: obj({ maxTtl: nullable(durationSchema), requireExpiry: bool(), maxGracePeriod: nullable(durationSchema) }),
      responses: { 200: { description: 'updated', schema: workspaceSchema } },
      handler: async ({ caller, params, body, command }) => {
        const ws = visible(caller, params.id!);
        demand(ledger, caller, 'workspaces:manage', ws.id);
        const updated = await ledger.setPolicy(
          ws.id,
          {
            maxTtlSeconds: body.maxTtl === undefined ? ws.maxTtlSeconds : seconds(body.maxTtl, 'maxTtl'),
            requireExpiry: (body.requireExpiry as boolean | undefined) ?? ws.requireExpiry,
            maxGraceSeconds: body.maxGracePeriod === undefined ? ws.maxGraceSeconds : seconds(body.maxGracePeriod, 'maxGracePeriod'),
          },
          command,
        );
        return workspaceJson(updated, true);
      },
    }),
  ];
}
