// Workspace aggregate: membership with roles, and the key policy (max TTL, required expiry, max rotation grace).
import type { WorkspaceEvent, WorkspaceRole } from '../../events/catalog.js';
import { DomainError } from '../../events/errors.js';
import { assertNever, type Decider } from './decider.js';

export type WorkspaceCommand =
  | { type: 'CreateWorkspace'; workspaceId: string; name: string; ownerId: string }
  | { type: 'SetMemberRole'; userId: string; role: WorkspaceRole }
  | { type: 'RemoveMember'; userId: string }
  | { type: 'SetPolicy'; maxTtlSeconds: number | null; requireExpiry: boolean; maxGraceSeconds: number | null };

export type WorkspaceState =
  { readonly exists: false } | { readonly exists: true; readonly workspaceId: string; readonly members: ReadonlyMap<string, WorkspaceRole> };

function owners(members: ReadonlyMap<string, WorkspaceRole>): number {
  let n = 0;
  for (const r of members.values()) if (r === 'owner') n++;
  return n;
}

function decide(cmd: WorkspaceCommand, state: WorkspaceState): WorkspaceEvent[] {
  if (cmd.type === 'CreateWorkspace') {
    if (state.exists) throw new DomainError('WORKSPACE_EXISTS', `workspace ${cmd.workspaceId} already exists`);
    return [
      { type: 'WorkspaceCreated', data: { workspaceId: cmd.workspaceId, name: cmd.name, ownerId: cmd.ownerId } },
      { type: 'WorkspaceMemberRoleSet', data: { workspaceId: cmd.workspaceId, userId: cmd.ownerId, role: 'owner' } },
    ];
  }
  if (!state.exists) throw new DomainError('WORKSPACE_NOT_FOUND', 'the workspace does not exist');
  const workspaceId = state.workspaceId;
  switch (cmd.type) {
    case 'SetMemberRole': {
      const current = state.members.get(cmd.userId);
      if (current === cmd.role) return [];
      if (current === 'owner' && owners(state.members) === 1) {
        throw new DomainError('LAST_OWNER', 'a workspace must keep at least one owner');
      }
      return [{ type: 'WorkspaceMemberRoleSet', data: { workspaceId, userId: cmd.userId, role: cmd.role } }];
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
          data: { workspaceId, maxTtlSeconds: cmd.maxTtlSeconds, requireExpiry: cmd.requireExpiry, maxGraceSeconds: cmd.maxGraceSeconds },
        },
      ];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(state: WorkspaceState, event: WorkspaceEvent): WorkspaceState {
  switch (event.type) {
    case 'WorkspaceCreated':
      return { exists: true, workspaceId: event.data.workspaceId, members: new Map() };
    case 'WorkspaceMemberRoleSet': {
      if (!state.exists) return state;
      const members = new Map(state.members);
      members.set(event.data.userId, event.data.role);
      return { ...state, members };
    }
    case 'WorkspaceMemberRemoved': {
      if (!state.exists) return state;
      const members = new Map(state.members);
      members.delete(event.data.userId);
      return { ...state, members };
    }
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
