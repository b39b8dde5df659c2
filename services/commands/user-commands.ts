// Account commands: registration (with its e-mail claim), password, activation, sessions and lockouts.
import type { SystemRole, WorkspaceRole } from '../../events/catalog.js';
import { streams } from '../../events/catalog.js';
import { DomainError } from '../domain/errors.js';
import type { UserView } from '../../projections/read-model/views.js';
import { checkPasswordStrength, hashPassword } from '../crypto/passwords.js';
import { WORKSPACE_ROLES } from '../domain/permissions.js';
import { userDecider } from '../domain/user.js';
import { requireEmail, requireOneOf } from '../domain/values.js';
import type { IdGenerator } from '../ids.js';
import { emailClaim, emailDigest, type Claims } from './claims.js';
import type { CommandBus, CommandContext } from './command-bus.js';
import type { ReadSide } from './read-side.js';
import type { WorkspaceCommands } from './workspace-commands.js';

export interface RegisterInput {
  email: string;
  name: string;
  password: string;
  systemRole?: SystemRole;
  workspaceId?: string | null;
  role?: WorkspaceRole;
}

export type LoginFailure = 'unknown_user' | 'bad_password' | 'inactive' | 'throttled';

/** Password rules hold for every entry point (HTTP, CLI): checked before the slow hash. */
function strongPassword(password: string, attr: string): string {
  const problem = checkPasswordStrength(password);
  if (problem !== null) throw new DomainError('WEAK_PASSWORD', problem, { attr });
  return password;
}

export class UserCommands {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ReadSide,
    private readonly claims: Claims,
    private readonly workspaces: WorkspaceCommands,
    private readonly ids: IdGenerator,
  ) {}

  /** Registers an account (and, with workspaceId, its first membership); every rule is checked before the first write. */
  async register(input: RegisterInput, ctx: CommandContext): Promise<UserView> {
    const email = input.email.trim();
    strongPassword(input.password, 'password');
    requireEmail(email);
    if (input.workspaceId) {
      this.read.workspace(input.workspaceId);
      requireOneOf(input.role ?? 'member', WORKSPACE_ROLES, 'role', 'INVALID_ROLE');
    }
    const userId = this.ids.id('usr');
    const c = this.bus.correlate(ctx);
    const claim = emailClaim(email);
    await this.claims.claim(
      claim,
      userId,
      (holder) => (this.read.findUser(holder) ? true : undefined),
      'EMAIL_TAKEN',
      c,
    );
    try {
      const passwordHash = await hashPassword(input.password);
      await this.bus.execute(
        userDecider,
        streams.user(userId),
        { type: 'RegisterUser', userId, email, name: input.name, passwordHash, systemRole: input.systemRole ?? 'user' },
        c,
      );
    } catch (err) {
      await this.claims.release(claim, userId, null, c);
      throw err;
    }
    if (input.workspaceId) await this.workspaces.setMemberRole(input.workspaceId, userId, input.role ?? 'member', c);
    return this.read.user(userId);
  }

  async changePassword(userId: string, password: string, c: CommandContext): Promise<void> {
    this.read.user(userId);
    const passwordHash = await hashPassword(strongPassword(password, 'newPassword'));
    await this.bus.execute(userDecider, streams.user(userId), { type: 'ChangePassword', passwordHash }, c);
  }

  /**
   * A refused password change is a fact the audit trail keeps (a guessing attack shows up there), and what every
   * instance's password throttle counts: it resolves once this instance's read model has it (read-your-writes).
   */
  async recordPasswordChangeFailure(
    userId: string,
    reason: 'bad_password' | 'throttled',
    c: CommandContext,
  ): Promise<void> {
    await this.bus.execute(userDecider, streams.user(userId), { type: 'RecordPasswordChangeFailure', reason }, c);
  }

  /** Lifts the account's failed-login lockout; every instance's throttle follows the event. */
  async liftLockout(userId: string, c: CommandContext): Promise<void> {
    this.read.user(userId);
    await this.bus.execute(userDecider, streams.user(userId), { type: 'LiftLockout' }, c);
  }

  async deactivate(userId: string, reason: string | null, c: CommandContext): Promise<void> {
    this.read.user(userId);
    await this.bus.execute(userDecider, streams.user(userId), { type: 'DeactivateUser', reason }, c);
  }

  async reactivate(userId: string, c: CommandContext): Promise<void> {
    this.read.user(userId);
    await this.bus.execute(userDecider, streams.user(userId), { type: 'ReactivateUser' }, c);
  }

  async recordLoginSuccess(userId: string, sessionId: string, expiresAt: Date, c: CommandContext): Promise<void> {
    await this.bus.execute(userDecider, streams.user(userId), { type: 'RecordLoginSuccess', sessionId, expiresAt }, c);
  }

  /** Like a refused password change: kept for the audit trail, counted by every throttle, applied here on return. */
  async recordLoginFailure(email: string, reason: LoginFailure, c: CommandContext): Promise<void> {
    const u = this.read.userByEmail(email);
    if (u && reason !== 'unknown_user') {
      await this.bus.execute(userDecider, streams.user(u.id), { type: 'RecordLoginFailure', email, reason }, c);
      return;
    }
    // Unknown e-mails have no user stream; their failures go to a stream per e-mail digest.
    const events = [{ type: 'UserLoginFailed' as const, data: { userId: null, email, reason } }];
    const written = await this.bus.appendRaw(streams.loginFailures(emailDigest(email)), events, c, 'any');
    await this.read.waitFor(written.position);
  }

  async logout(userId: string, sessionId: string, c: CommandContext): Promise<void> {
    await this.bus.execute(userDecider, streams.user(userId), { type: 'Logout', sessionId }, c);
  }
}
