// Workspace aggregate: membership with roles, invitations (consent to join), and the key policy.
import type { WorkspaceEvent, WorkspaceRole } from '../../events/catalog.js';
import { DomainError } from './errors.js';
import { assertNever, type Decider } from './decider.js';
import { WORKSPACE_ROLES, asRole } from './permissions.js';
import { normalizeEmail, requireEmail, requireInstant, requireOneOf, requireText } from './values.js';

export type WorkspaceCommand =
  | { type: 'CreateWorkspace'; workspaceId: string; name: string; ownerId: string }
  | { type: 'SetMemberRole'; userId: string; role: WorkspaceRole }
  | { type: 'RemoveMember'; userId: string }
  | { type: 'SetPolicy'; maxTtlSeconds: number | null; requireExpiry: boolean; maxGraceSeconds: number | null }
  | { type: 'InviteMember'; now: Date; invitationId: string; email: string; role: WorkspaceRole; expiresAt: Date }
  | { type: 'AcceptInvitation'; now: Date; invitationId: string; userId: string; email: string }
  | { type: 'CancelInvitation'; invitationId: string; reason: 'declined' | 'cancelled' };

export interface PendingInvitation {
  readonly email: string;
  readonly role: WorkspaceRole;
  readonly expiresAt: number;
}

export type WorkspaceState =
  | { readonly exists: false }
  | {
      readonly exists: true;
      readonly workspaceId: string;
      readonly members: ReadonlyMap<string, WorkspaceRole>;
      /** Pending invitations only: accepted or cancelled ones are gone. */
      readonly invitations: ReadonlyMap<string, PendingInvitation>;
    };

function owners(members: ReadonlyMap<string, WorkspaceRole>): number {
  let n = 0;
  for (const r of members.values()) if (r === 'owner') n++;
  return n;
}

const requireRole = (role: unknown): WorkspaceRole => requireOneOf(role, WORKSPACE_ROLES, 'role', 'INVALID_ROLE');

function pending(state: Extract<WorkspaceState, { exists: true }>, invitationId: string): PendingInvitation {
  const inv = state.invitations.get(invitationId);
  if (inv === undefined)
    throw new DomainError('INVITATION_NOT_FOUND', 'no pending invitation with that id', { attr: 'invitationId' });
  return inv;
}

function decide(cmd: WorkspaceCommand, state: WorkspaceState): WorkspaceEvent[] {
  if (cmd.type === 'CreateWorkspace') {
    if (state.exists) throw new DomainError('WORKSPACE_EXISTS', `workspace ${cmd.workspaceId} already exists`);
    const name = requireText(cmd.name, 'name');
    return [
      { type: 'WorkspaceCreated', data: { workspaceId: cmd.workspaceId, name, ownerId: cmd.ownerId } },
      { type: 'WorkspaceMemberRoleSet', data: { workspaceId: cmd.workspaceId, userId: cmd.ownerId, role: 'owner' } },
    ];
  }
  if (!state.exists) throw new DomainError('WORKSPACE_NOT_FOUND', 'the workspace does not exist');
  const workspaceId = state.workspaceId;
  switch (cmd.type) {
    case 'SetMemberRole': {
      const role = requireRole(cmd.role);
      const current = state.members.get(cmd.userId);
      if (current === role) return [];
      if (current === 'owner' && owners(state.members) === 1) {
        throw new DomainError('LAST_OWNER', 'a workspace must keep at least one owner');
      }
      return [{ type: 'WorkspaceMemberRoleSet', data: { workspaceId, userId: cmd.userId, role } }];
    }
    case 'RemoveMember': {
      const current = state.members.get(cmd.userId);
      if (current === undefined) throw new DomainError('NOT_A_MEMBER', 'the user is not a member of this workspace');
      if (current === 'owner' && owners(state.members) === 1) {
        throw new DomainError('LAST_OWNER', 'a workspace must keep at least one owner');
      }
      return [{ type: 'WorkspaceMemberRemoved', data: { workspaceId, userId: cmd.userId } }];
    }
    case 'SetPolicy': {
      for (const [attr, v] of [
        ['maxTtl', cmd.maxTtlSeconds],
        ['maxGracePeriod', cmd.maxGraceSeconds],
      ] as const) {
        if (v !== null && !(Number.isInteger(v) && v > 0))
          throw new DomainError('INVALID_POLICY', `${attr} must be a positive whole number of seconds`, { attr });
      }
      return [
        {
          type: 'WorkspacePolicySet',
          data: {
            workspaceId,
            maxTtlSeconds: cmd.maxTtlSeconds,
            requireExpiry: cmd.requireExpiry === true,
            maxGraceSeconds: cmd.maxGraceSeconds,
          },
        },
      ];
    }
    case 'InviteMember': {
      const email = normalizeEmail(requireEmail(cmd.email));
      const role = requireRole(cmd.role);
      const expiresAt = requireInstant(cmd.expiresAt, 'expiresAt');
      if (expiresAt.getTime() <= cmd.now.getTime())
        throw new DomainError('EXPIRY_IN_PAST', 'an invitation must expire in the future', { attr: 'expiresAt' });
      for (const inv of state.invitations.values()) {
        if (inv.email === email && inv.expiresAt > cmd.now.getTime())
          throw new DomainError('INVITATION_PENDING', 'that address already has a pending invitation');
      }
      return [
        {
          type: 'WorkspaceInvitationCreated',
          data: { workspaceId, invitationId: cmd.invitationId, email, role, expiresAt: expiresAt.toISOString() },
        },
      ];
    }
    case 'AcceptInvitation': {
      const inv = pending(state, cmd.invitationId);
      // The decider re-checks what the policy checked: an invitation is for its addressee only.
      if (inv.email !== normalizeEmail(cmd.email))
        throw new DomainError('INVITATION_NOT_FOUND', 'no pending invitation with that id', { attr: 'invitationId' });
      if (inv.expiresAt <= cmd.now.getTime()) throw new DomainError('INVITATION_EXPIRED', 'the invitation has expired');
      if (state.members.has(cmd.userId))
        throw new DomainError('ALREADY_A_MEMBER', 'you are already a member of this workspace');
      return [
        {
          type: 'WorkspaceInvitationAccepted',
          data: { workspaceId, invitationId: cmd.invitationId, userId: cmd.userId },
        },
        { type: 'WorkspaceMemberRoleSet', data: { workspaceId, userId: cmd.userId, role: inv.role } },
      ];
    }
    case 'CancelInvitation': {
      pending(state, cmd.invitationId);
      const reason = requireOneOf(cmd.reason, ['declined', 'cancelled'] as const, 'reason', 'INVALID_REASON');
      return [{ type: 'WorkspaceInvitationCancelled', data: { workspaceId, invitationId: cmd.invitationId, reason } }];
    }
    default:
      return assertNever(cmd);
  }
}

function withMembers(state: WorkspaceState, f: (m: Map<string, WorkspaceRole>) => void): WorkspaceState {
  if (!state.exists) return state;
  const members = new Map(state.members);
  f(members);
  return { ...state, members };
}

function withInvitations(state: WorkspaceState, f: (m: Map<string, PendingInvitation>) => void): WorkspaceState {
  if (!state.exists) return state;
  const invitations = new Map(state.invitations);
  f(invitations);
  return { ...state, invitations };
}

function evolve(state: WorkspaceState, event: WorkspaceEvent): WorkspaceState {
  switch (event.type) {
    case 'WorkspaceCreated':
      return { exists: true, workspaceId: event.data.workspaceId, members: new Map(), invitations: new Map() };
    case 'WorkspaceMemberRoleSet': {
      // An unknown role in an old event holds no permission: treat it as no membership.
      const role = asRole(event.data.role);
      return withMembers(state, (m) => (role === null ? m.delete(event.data.userId) : m.set(event.data.userId, role)));
    }
    case 'WorkspaceMemberRemoved':
      return withMembers(state, (m) => m.delete(event.data.userId));
    case 'WorkspaceInvitationCreated': {
      const { invitationId, email, role, expiresAt } = event.data;
      const r = asRole(role);
      return withInvitations(state, (m) =>
        r === null ? undefined : m.set(invitationId, { email, role: r, expiresAt: Date.parse(expiresAt) }),
      );
    }
    case 'WorkspaceInvitationAccepted':
    case 'WorkspaceInvitationCancelled':
      return withInvitations(state, (m) => m.delete(event.data.invitationId));
    case 'WorkspacePolicySet':
      return state;
    default:
      return assertNever(event);
  }
}

export const workspaceDecider: Decider<WorkspaceCommand, WorkspaceState, WorkspaceEvent> = {
  initialState: () => ({ exists: false }),
  decide,
  evolve,
};
