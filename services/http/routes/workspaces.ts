// Workspaces: create, list, read, members and roles, invitations (consent to join), and the key policy.
import type { AppContext } from '../context.js';
import { allowed, authorize, type Caller } from '../auth.js';
import { HttpError } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { z } from 'zod';
import { createWorkspaceInput, invitationInput, policyInput, role as roleSchema } from '../../schemas/inputs.js';
import { invitationJson, invitationSchema, workspaceJson, workspaceSchema } from '../views.js';
import { NotFoundError } from '../../domain/errors.js';
import type { WorkspaceRole } from '../../../events/catalog.js';
import type { WorkspaceView } from '../../../projections/read-model/views.js';
import { parseDuration } from '../../duration.js';
import type { Ledger } from '../../ledger.js';

const INVITATION_TTL_SECONDS = 7 * 24 * 3600;

function seconds(v: number | string | null | undefined, attr: string): number | null {
  if (v === null || v === undefined) return null;
  const s = parseDuration(v);
  if (s === null)
    throw new HttpError(400, 'invalid', `${attr} must be a positive duration such as 3600 or 30d.`, {
      attr,
      type: 'validation_error',
    });
  return s;
}

/** A workspace the caller belongs to (a system admin: any); 404 otherwise, whether or not it exists. */
function visible(ledger: Ledger, caller: Caller, id: string): WorkspaceView {
  const ws = ledger.read.findWorkspace(id);
  if (!ws || ws.ownerId === '') throw new NotFoundError('workspace', id);
  authorize(caller, 'workspace.read', { kind: 'workspace', workspaceId: ws.id }, { what: 'workspace', id });
  return ws;
}

export function workspaceRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  const member = (ws: WorkspaceView, userId: string, newRole: WorkspaceRole | null) =>
    ({ kind: 'member', workspaceId: ws.id, userId, role: ledger.read.roleOf(ws.id, userId), newRole }) as const;
  return [
    route({
      method: 'POST',
      path: '/v1/workspaces',
      summary: 'Create a workspace; you become its owner (from a login session)',
      tag: 'workspaces',
      auth: 'required',
      body: createWorkspaceInput,
      responses: { 201: { description: 'created', schema: workspaceSchema } },
      handler: async ({ ctx, caller, body, command }) => {
        authorize(caller, 'workspace.create', { kind: 'none' }, { what: 'workspace', id: '' });
        const ws = await ledger.workspaces.create(body.name, caller.user.id, command);
        ctx.status = 201;
        return workspaceJson(ws, true);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/workspaces',
      summary: 'Workspaces you belong to (a system admin: every workspace)',
      tag: 'workspaces',
      auth: 'required',
      responses: { 200: { description: 'workspaces', schema: z.object({ items: z.array(workspaceSchema) }) } },
      handler: ({ caller }) => {
        const items = [...ledger.read.workspaces()]
          .filter(
            (w) => w.ownerId !== '' && allowed(caller, 'workspace.read', { kind: 'workspace', workspaceId: w.id }),
          )
          .map((w) => ({ ...workspaceJson(w), role: ledger.read.roleOf(w.id, caller.user.id) }));
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
      handler: ({ caller, params }) => workspaceJson(visible(ledger, caller, params.id!), true),
    }),
    route({
      method: 'PUT',
      path: '/v1/workspaces/:id/members/:userId',
      summary:
        "Set a member's role; adding someone who is not a member needs their consent (an invitation) unless you are a system admin",
      tag: 'workspaces',
      auth: 'required',
      body: z.strictObject({ role: roleSchema }),
      responses: {
        200: { description: 'updated', schema: workspaceSchema },
        403: { description: 'consent_required: invite the user instead' },
        409: { description: 'would leave no owner' },
      },
      handler: async ({ caller, params, body, command }) => {
        const ws = visible(ledger, caller, params.id!);
        const role = body.role;
        const target = member(ws, params.userId!, role);
        authorize(caller, target.role === null ? 'member.add' : 'member.role', target, {
          what: 'user',
          id: params.userId!,
        });
        await ledger.workspaces.setMemberRole(ws.id, params.userId!, role, command);
        return workspaceJson(ledger.read.workspace(ws.id), true);
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/workspaces/:id/members/:userId',
      summary: 'Remove a member (or leave, from your own session); their keys in this workspace stop at once',
      tag: 'workspaces',
      auth: 'required',
      responses: { 204: { description: 'removed' } },
      handler: async ({ ctx, caller, params, command }) => {
        const ws = visible(ledger, caller, params.id!);
        authorize(caller, 'member.remove', member(ws, params.userId!, null), { what: 'user', id: params.userId! });
        await ledger.workspaces.removeMember(ws.id, params.userId!, command);
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
      body: policyInput,
      responses: { 200: { description: 'updated', schema: workspaceSchema } },
      handler: async ({ caller, params, body, command }) => {
        const ws = visible(ledger, caller, params.id!);
        authorize(
          caller,
          'workspace.policy',
          { kind: 'workspace', workspaceId: ws.id },
          { what: 'workspace', id: ws.id },
        );
        const updated = await ledger.workspaces.setPolicy(
          ws.id,
          {
            maxTtlSeconds: body.maxTtl === undefined ? ws.maxTtlSeconds : seconds(body.maxTtl, 'maxTtl'),
            requireExpiry: body.requireExpiry ?? ws.requireExpiry,
            maxGraceSeconds:
              body.maxGracePeriod === undefined ? ws.maxGraceSeconds : seconds(body.maxGracePeriod, 'maxGracePeriod'),
          },
          command,
        );
        return workspaceJson(updated, true);
      },
    }),
    route({
      method: 'POST',
      path: '/v1/workspaces/:id/invitations',
      summary:
        'Invite an e-mail address to join with a role; the user joins only by accepting (POST /v1/invitations/{id}/accept)',
      tag: 'workspaces',
      auth: 'required',
      body: invitationInput,
      responses: {
        201: { description: 'invited', schema: invitationSchema },
        409: { description: 'that address already has a pending invitation' },
      },
      handler: async ({ ctx, caller, params, body, command }) => {
        const ws = visible(ledger, caller, params.id!);
        const role = body.role ?? 'member';
        authorize(
          caller,
          'invitation.create',
          { kind: 'member', workspaceId: ws.id, userId: '', role: null, newRole: role },
          { what: 'workspace', id: ws.id },
        );
        const ttl = body.expiresIn === undefined ? INVITATION_TTL_SECONDS : seconds(body.expiresIn, 'expiresIn')!;
        const inv = await ledger.workspaces.invite(ws.id, body.email, role, ttl, command);
        ctx.status = 201;
        return invitationJson(inv, ledger.now());
      },
    }),
    route({
      method: 'GET',
      path: '/v1/workspaces/:id/invitations',
      summary: "The workspace's invitations, newest first",
      tag: 'workspaces',
      auth: 'required',
      responses: { 200: { description: 'invitations', schema: z.object({ items: z.array(invitationSchema) }) } },
      handler: ({ caller, params }) => {
        const ws = visible(ledger, caller, params.id!);
        authorize(
          caller,
          'invitation.manage',
          { kind: 'workspace', workspaceId: ws.id },
          { what: 'workspace', id: ws.id },
        );
        const now = ledger.now();
        const items = [...ledger.read.invitations()].filter((i) => i.workspaceId === ws.id).reverse();
        return { items: items.map((i) => invitationJson(i, now)) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/workspaces/:id/invitations/:invitationId',
      summary: 'Cancel a pending invitation',
      tag: 'workspaces',
      auth: 'required',
      responses: { 200: { description: 'cancelled', schema: invitationSchema } },
      handler: async ({ caller, params, command }) => {
        const ws = visible(ledger, caller, params.id!);
        authorize(
          caller,
          'invitation.manage',
          { kind: 'workspace', workspaceId: ws.id },
          { what: 'workspace', id: ws.id },
        );
        const inv = ledger.read.findInvitation(params.invitationId!);
        if (!inv || inv.workspaceId !== ws.id) throw new NotFoundError('invitation', params.invitationId!);
        return invitationJson(await ledger.workspaces.cancelInvitation(inv.id, 'cancelled', command), ledger.now());
      },
    }),
    route({
      method: 'GET',
      path: '/v1/invitations',
      summary: 'Invitations addressed to you that you can still accept (from a login session)',
      tag: 'workspaces',
      auth: 'required',
      responses: { 200: { description: 'invitations', schema: z.object({ items: z.array(invitationSchema) }) } },
      handler: ({ caller }) => {
        const now = ledger.now();
        const mine = { kind: 'invitation', workspaceId: '', email: caller.user.email } as const;
        authorize(caller, 'invitation.respond', mine, { what: 'invitation', id: '' });
        const items = [...ledger.read.invitations()].filter(
          (i) =>
            i.status === 'pending' &&
            i.expiresAt > now &&
            allowed(caller, 'invitation.respond', { ...mine, workspaceId: i.workspaceId, email: i.email }),
        );
        return { items: items.map((i) => invitationJson(i, now)) };
      },
    }),
    ...(['accept', 'decline'] as const).map((action) =>
      route({
        method: 'POST',
        path: `/v1/invitations/:invitationId/${action}`,
        summary:
          action === 'accept' ? 'Accept an invitation: you join the workspace with its role' : 'Decline an invitation',
        tag: 'workspaces',
        auth: 'required',
        responses: { 200: { description: action === 'accept' ? 'joined' : 'declined', schema: invitationSchema } },
        handler: async ({ caller, params, command }) => {
          const inv = ledger.read.findInvitation(params.invitationId!);
          if (!inv) throw new NotFoundError('invitation', params.invitationId!);
          authorize(
            caller,
            'invitation.respond',
            { kind: 'invitation', workspaceId: inv.workspaceId, email: inv.email },
            { what: 'invitation', id: inv.id },
          );
          const done =
            action === 'accept'
              ? await ledger.workspaces.acceptInvitation(inv.id, caller.user, command)
              : await ledger.workspaces.cancelInvitation(inv.id, 'declined', command);
          return invitationJson(done, ledger.now());
        },
      }),
    ),
  ];
}
