// Workspace commands: creation, members and roles, invitations (consent to join), and the key policy.
import type { WorkspaceRole } from '../../events/catalog.js';
import { streams } from '../../events/catalog.js';
import type { InvitationView, UserView, WorkspaceView } from '../../projections/read-model/views.js';
import type { WorkspacePolicy } from '../domain/api-key.js';
import { workspaceDecider } from '../domain/workspace.js';
import type { IdGenerator } from '../ids.js';
import type { CommandBus, CommandContext } from './command-bus.js';
import type { ReadSide } from './read-side.js';

export class WorkspaceCommands {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ReadSide,
    private readonly ids: IdGenerator,
  ) {}

  async create(name: string, ownerId: string, c: CommandContext): Promise<WorkspaceView> {
    this.read.user(ownerId);
    const workspaceId = this.ids.id('ws');
    await this.bus.execute(
      workspaceDecider,
      streams.workspace(workspaceId),
      { type: 'CreateWorkspace', workspaceId, name, ownerId },
      c,
    );
    return this.read.workspace(workspaceId);
  }

  async setMemberRole(workspaceId: string, userId: string, role: WorkspaceRole, c: CommandContext): Promise<void> {
    this.read.workspace(workspaceId);
    this.read.user(userId);
    await this.bus.execute(
      workspaceDecider,
      streams.workspace(workspaceId),
      { type: 'SetMemberRole', userId, role },
      c,
    );
  }

  async removeMember(workspaceId: string, userId: string, c: CommandContext): Promise<void> {
    this.read.workspace(workspaceId);
    await this.bus.execute(workspaceDecider, streams.workspace(workspaceId), { type: 'RemoveMember', userId }, c);
  }

  async setPolicy(workspaceId: string, policy: WorkspacePolicy, c: CommandContext): Promise<WorkspaceView> {
    this.read.workspace(workspaceId);
    await this.bus.execute(workspaceDecider, streams.workspace(workspaceId), { type: 'SetPolicy', ...policy }, c);
    return this.read.workspace(workspaceId);
  }

  /** Invites an address to the workspace; the user joins only by accepting. */
  async invite(
    workspaceId: string,
    email: string,
    role: WorkspaceRole,
    ttlSeconds: number,
    c: CommandContext,
  ): Promise<InvitationView> {
    this.read.workspace(workspaceId);
    const invitationId = this.ids.id('inv');
    await this.bus.execute(
      workspaceDecider,
      streams.workspace(workspaceId),
      (_s, now) => ({
        type: 'InviteMember' as const,
        now,
        invitationId,
        email,
        role,
        expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
      }),
      c,
    );
    return this.read.invitation(invitationId);
  }

  async acceptInvitation(invitationId: string, user: UserView, c: CommandContext): Promise<InvitationView> {
    const inv = this.read.invitation(invitationId);
    await this.bus.execute(
      workspaceDecider,
      streams.workspace(inv.workspaceId),
      (_s, now) => ({ type: 'AcceptInvitation' as const, now, invitationId, userId: user.id, email: user.email }),
      c,
    );
    return this.read.invitation(invitationId);
  }

  async cancelInvitation(
    invitationId: string,
    reason: 'declined' | 'cancelled',
    c: CommandContext,
  ): Promise<InvitationView> {
    const inv = this.read.invitation(invitationId);
    await this.bus.execute(
      workspaceDecider,
      streams.workspace(inv.workspaceId),
      { type: 'CancelInvitation', invitationId, reason },
      c,
    );
    return this.read.invitation(invitationId);
  }
}
