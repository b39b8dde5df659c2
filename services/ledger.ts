// The ledger's service layer: domain operations over deciders, the read model, expiry and usage.
import { createHash } from 'node:crypto';
import type { KeyFormat, Presentation, SystemRole, WorkspaceRole } from '../events/catalog.js';
import { streams } from '../events/catalog.js';
import { DomainError, NotFoundError } from '../events/errors.js';
import { SYSTEM_ACTOR } from '../events/metadata.js';
import { toStoredEvent } from '../events/serialization.js';
import type { EventStore, Subscription } from '../events/store/types.js';
import { ExpiryScheduler } from '../projections/expiry-scheduler.js';
import { ReadModel, type VerifyOptions } from '../projections/read-model.js';
import { UsageRecorder, type FailedUse, type PendingUse } from '../projections/usage-recorder.js';
import { KeyStatus, type InvitationView, type KeyView, type UserView, type VerifyResult, type WorkspaceView } from '../projections/views.js';
import { CommandBus, type CommandContext } from './command-bus.js';
import type { JwtService } from './crypto/jwt.js';
import { checkPasswordStrength, hashPassword } from './crypto/passwords.js';
import type { Sealer } from './crypto/sealing.js';
import { digestHex, displayStart, mintOpaqueToken } from './crypto/tokens.js';
import { apiKeyDecider, checkCreationPolicy, type ApiKeyState, type WorkspacePolicy } from './domain/api-key.js';
import { effectiveScopes, roleAllows, WORKSPACE_ROLES } from './domain/permissions.js';
import { requireEmail, requireOneOf } from './domain/values.js';
import { uniqueValueDecider } from './domain/unique-value.js';
import { userDecider } from './domain/user.js';
import { workspaceDecider } from './domain/workspace.js';
import { randomIds, type IdGenerator } from './ids.js';

export interface LedgerOptions {
  readonly store: EventStore;
  readonly sealer: Sealer;
  readonly jwt: JwtService;
  readonly tokenPrefix?: string;
  readonly clock?: () => Date;
  readonly ids?: IdGenerator;
  readonly usageFlushMs?: number;
  /** Upper bound for a rotation grace period when the workspace sets none. */
  readonly maxGraceSeconds?: number;
  /** false: tests drive expiry with runDue() under a frozen clock. */
  readonly expiryTimer?: boolean;
  readonly log?: (msg: string, err?: unknown) => void;
}

export interface CreateKeyInput {
  userId: string;
  workspaceId?: string | null | undefined;
  name: string;
  description?: string | null | undefined;
  handle?: string | null | undefined;
  alias?: string | null | undefined;
  scopes?: string[] | null | undefined;
  expiresAt?: Date | null | undefined;
  expiresInSeconds?: number | null | undefined;
  format?: KeyFormat | undefined;
  retrievable?: boolean | undefined;
}

export interface CreatedKey {
  readonly key: KeyView;
  readonly token: string;
}

const emailDigest = (email: string): string => createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 32);
const handleDigest = (userId: string, handle: string): string => createHash('sha256').update(`${userId}\n${handle}`).digest('hex').slice(0, 32);

const CLAIM_IN_PROGRESS_MS = 60_000;

/** Password rules hold for every entry point (HTTP, CLI): checked before the slow hash. */
function strongPassword(password: string, attr: string): string {
  const problem = checkPasswordStrength(password);
  if (problem !== null) throw new DomainError('WEAK_PASSWORD', problem, { attr });
  return password;
}

export const SYSTEM: CommandContext = { actor: SYSTEM_ACTOR };

/** Uniqueness claims are written by the ledger itself, within the caller's correlation and causation. */
const claimContext = (c: CommandContext): CommandContext => ({ ...c, actor: SYSTEM_ACTOR });

interface Claim {
  readonly scope: string;
  readonly digest: string;
  readonly value: string;
}

export class Ledger {
  readonly store: EventStore;
  readonly readModel = new ReadModel();
  readonly bus: CommandBus;
  readonly expiry: ExpiryScheduler;
  readonly usage: UsageRecorder;
  readonly tokenPrefix: string;
  readonly jwt: JwtService;
  readonly clock: () => Date;
  readonly ids: IdGenerator;
  readonly maxGraceSeconds: number;
  private readonly sealer: Sealer;
  private readonly log: (msg: string, err?: unknown) => void;
  private sub: Subscription | null = null;
  private waiters: Array<{ position: number; resolve: () => void }> = [];
  private caughtUp = false;
  private subscriptionFailure: unknown = null;

  constructor(opts: LedgerOptions) {
    this.store = opts.store;
    this.sealer = opts.sealer;
    this.jwt = opts.jwt;
    this.tokenPrefix = opts.tokenPrefix ?? 'tl';
    this.clock = opts.clock ?? (() => new Date());
    this.ids = opts.ids ?? randomIds;
    this.maxGraceSeconds = opts.maxGraceSeconds ?? 30 * 24 * 3600;
    this.log = opts.log ?? ((m, e) => console.error(m, e));
    this.bus = new CommandBus(this.store, this.ids, this.clock, (p) => this.waitFor(p));
    this.expiry = new ExpiryScheduler(
      this.clock,
      (keyId) => this.expireKey(keyId),
      (err, keyId) => this.log(`expiring ${keyId} failed`, err),
      (keyId) => this.readModel.keysById.get(keyId)?.status === KeyStatus.Active,
      opts.expiryTimer ?? true,
    );
    this.usage = new UsageRecorder(
      (uses) => this.writeUses(uses),
      (err) => this.log('writing key use failed', err),
      opts.usageFlushMs ?? 10_000,
      () => this.ids.uuid(),
    );
    this.readModel.onApplied((e) => this.expiry.observe(e));
  }

  /** Builds the read model from the log, then stays live. */
  async start(): Promise<void> {
    if (this.sub) return;
    this.sub = this.store.subscribeAll(
      (r) => {
        const e = toStoredEvent(r);
        if (e) this.readModel.apply(e);
        else this.readModel.position = r.position;
        if (this.waiters.length > 0) this.release();
      },
      {
        onError: (err) => {
          this.subscriptionFailure = err;
          this.log('read model subscription failed', err);
        },
      },
    );
    await this.sub.caughtUp;
    this.caughtUp = true;
    this.usage.start();
    await this.expiry.runDue();
  }

  get isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /** Why the read model stopped following the store, if it has; readiness fails at once on it. */
  get subscriptionError(): unknown {
    return this.subscriptionFailure;
  }

  private release(): void {
    const pos = this.readModel.position;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.position <= pos) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Read-your-writes: resolves once this process's read model has applied `position`. */
  waitFor(position: number): Promise<void> {
    if (this.readModel.position >= position) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  async stop(): Promise<void> {
    this.expiry.stop();
    await this.usage.stop();
    await this.sub?.close();
    this.sub = null;
  }

  // ---------------------------------------------------------------- verify

  verify(token: string, opts: VerifyOptions = {}): VerifyResult {
    return this.readModel.verify(token, { scopes: opts.scopes, now: opts.now ?? this.clock().getTime() });
  }

  /** Verify and, when valid, record the use (coalesced, never on the caller's latency). */
  verifyAndRecord(token: string, presentation: Presentation, opts: VerifyOptions & { ip?: string | null; userAgent?: string | null } = {}): VerifyResult {
    const now = opts.now ?? this.clock().getTime();
    const r = this.readModel.verify(token, { scopes: opts.scopes, now });
    if (r.valid && r.key) this.usage.record(r.key.id, presentation, now, opts.ip ?? null, opts.userAgent ?? null);
    return r;
  }

  /** Records one use of a key a caller has already verified (coalesced, never on the caller's latency). */
  recordUse(key: KeyView, presentation: Presentation, now: number, ip: string | null, userAgent: string | null): void {
    this.usage.record(key.id, presentation, now, ip, userAgent);
  }

  /** Writes each key's use on its own; answers the uses that could not be written. */
  private async writeUses(uses: readonly PendingUse[]): Promise<FailedUse[]> {
    const failed: FailedUse[] = [];
    await Promise.all(
      uses.map(async (u) => {
        const k = this.readModel.keysById.get(u.keyId);
        if (!k) return;
        try {
          const events = apiKeyDecider.decide(
            {
              type: 'RecordApiKeyUse',
              count: u.count,
              firstAt: new Date(u.firstAt),
              lastAt: new Date(u.lastAt),
              lastIp: u.lastIp,
              lastUserAgent: u.lastUserAgent,
              presentation: u.presentation,
              presentations: u.presentations,
            },
            this.keyState(k),
          );
          const ctx: CommandContext = { actor: { type: 'key', id: u.keyId }, request: { ip: u.lastIp ?? undefined, userAgent: u.lastUserAgent ?? undefined } };
          // Use facts do not depend on the key's revision, so they never conflict with other commands;
          // the fixed event id makes a retry of a write whose outcome was unknown idempotent.
          const ids = u.eventId === null ? undefined : [u.eventId];
          await this.store.append(streams.apiKey(u.keyId), this.bus.envelope(events, ctx, this.clock(), ids), 'stream_exists');
        } catch (error) {
          failed.push({ use: u, error, retry: !(error instanceof DomainError || error instanceof TypeError) });
        }
      }),
    );
    return failed;
  }

  private keyState(k: KeyView): ApiKeyState {
    return {
      exists: true,
      keyId: k.id,
      userId: k.owner.id,
      workspaceId: k.workspaceId,
      status: k.status === KeyStatus.Active ? 'active' : k.status === KeyStatus.Revoked ? 'revoked' : 'expired',
      expiresAt: k.requestedExpiresAt,
      retrievable: k.retrievable,
      successorId: k.rotatedTo,
      graceEndsAt: k.graceEndsAt,
      name: k.name,
      description: k.description,
      alias: k.alias,
    };
  }

  // ---------------------------------------------------------------- users

  user(userId: string): UserView {
    const u = this.readModel.users.get(userId);
    if (!u) throw new NotFoundError('user', userId);
    return u;
  }

  async registerUser(
    input: { email: string; name: string; password: string; systemRole?: SystemRole; workspaceId?: string | null; role?: WorkspaceRole },
    ctx: CommandContext,
  ): Promise<UserView> {
    const email = input.email.trim();
    strongPassword(input.password, 'password');
    requireEmail(email);
    // Everything that can refuse the membership is checked before the account is written.
    if (input.workspaceId) {
      this.workspace(input.workspaceId);
      requireOneOf(input.role ?? 'member', WORKSPACE_ROLES, 'role', 'INVALID_ROLE');
    }
    const userId = this.ids.id('usr');
    const c = this.bus.correlate(ctx);
    const claim: Claim = { scope: 'email', digest: emailDigest(email), value: email };
    await this.claim(claim, userId, (holder) => (this.readModel.users.has(holder) ? true : undefined), 'EMAIL_TAKEN', c);
    try {
      const passwordHash = await hashPassword(input.password);
      await this.bus.execute(
        userDecider,
        streams.user(userId),
        { type: 'RegisterUser', userId, email, name: input.name, passwordHash, systemRole: input.systemRole ?? 'user' },
        c,
      );
    } catch (err) {
      await this.releaseClaim(claim, userId, null, c);
      throw err;
    }
    if (input.workspaceId) await this.setMemberRole(input.workspaceId, userId, input.role ?? 'member', c);
    return this.user(userId);
  }

  /** `alive` answers undefined when the holder is not in the read model (yet). */
  private async claim(claim: Claim, ownerId: string, alive: (holder: string) => boolean | undefined, takenCode: string, c: CommandContext): Promise<void> {
    const { scope, value } = claim;
    try {
      await this.bus.execute(
        uniqueValueDecider,
        streams.unique(scope, claim.digest),
        // A fresh claim whose owner is not in the read model yet is a creation in progress, not a stale one.
        (s, now) => ({
          type: 'ClaimValue' as const,
          now,
          scope,
          value,
          ownerId,
          holderAlive: s.holder !== null && (alive(s.holder) ?? now.getTime() - s.claimedAt < CLAIM_IN_PROGRESS_MS),
        }),
        claimContext(c),
        { waitForReadModel: false },
      );
    } catch (err) {
      if (err instanceof DomainError && err.code === 'VALUE_TAKEN') throw new DomainError(takenCode, `${scope} is already taken`, { attr: scope });
      throw err;
    }
  }

  /**
   * Undoes the claim of an owner that was never created, so the value is free at once (not after the in-progress
   * window). With `restoreTo`, the value goes back to that holder instead (a rotation's predecessor). Best effort:
   * a failure is logged, and the claim then lapses as a stale one.
   */
  private async releaseClaim(claim: Claim, ownerId: string, restoreTo: string | null, c: CommandContext): Promise<void> {
    try {
      await this.bus.execute(
        uniqueValueDecider,
        streams.unique(claim.scope, claim.digest),
        (s, now) =>
          restoreTo === null
            ? { type: 'ReleaseValue' as const, ownerId }
            : { type: 'ClaimValue' as const, now, scope: claim.scope, value: claim.value, ownerId: restoreTo, holderAlive: s.holder !== ownerId },
        claimContext(c),
        { waitForReadModel: false },
      );
    } catch (err) {
      this.log(`releasing the ${claim.scope} claim of ${ownerId} failed`, err);
    }
  }

  async changePassword(userId: string, password: string, c: CommandContext): Promise<void> {
    this.user(userId);
    const passwordHash = await hashPassword(strongPassword(password, 'newPassword'));
    await this.bus.execute(userDecider, streams.user(userId), { type: 'ChangePassword', passwordHash }, c);
  }

  /** A refused password change is a fact the audit trail keeps (a guessing attack shows up there). */
  async recordPasswordChangeFailure(userId: string, reason: 'bad_password' | 'throttled', c: CommandContext): Promise<void> {
    await this.bus.execute(userDecider, streams.user(userId), { type: 'RecordPasswordChangeFailure', reason }, c, { waitForReadModel: false });
  }

  /** Lifts the account's failed-login lockout; every instance's throttle follows the event. */
  async liftLockout(userId: string, c: CommandContext): Promise<void> {
    this.user(userId);
    await this.bus.execute(userDecider, streams.user(userId), { type: 'LiftLockout' }, c);
  }

  async deactivateUser(userId: string, reason: string | null, c: CommandContext): Promise<void> {
    this.user(userId);
    await this.bus.execute(userDecider, streams.user(userId), { type: 'DeactivateUser', reason }, c);
  }

  async reactivateUser(userId: string, c: CommandContext): Promise<void> {
    this.user(userId);
    await this.bus.execute(userDecider, streams.user(userId), { type: 'ReactivateUser' }, c);
  }

  async recordLoginSuccess(userId: string, sessionId: string, expiresAt: Date, c: CommandContext): Promise<void> {
    await this.bus.execute(userDecider, streams.user(userId), { type: 'RecordLoginSuccess', sessionId, expiresAt }, c);
  }

  async recordLoginFailure(email: string, reason: 'unknown_user' | 'bad_password' | 'inactive' | 'throttled', c: CommandContext): Promise<void> {
    const u = this.readModel.usersByEmail.get(email.trim().toLowerCase());
    if (u && reason !== 'unknown_user') {
      await this.bus.execute(userDecider, streams.user(u.id), { type: 'RecordLoginFailure', email, reason }, c, { waitForReadModel: false });
      return;
    }
    // Unknown e-mails have no user stream; their failures go to a stream per e-mail digest.
    const events = [{ type: 'UserLoginFailed' as const, data: { userId: null, email, reason } }];
    await this.store.append(streams.loginFailures(emailDigest(email)), this.bus.envelope(events, c, this.clock()), 'any');
  }

  async logout(userId: string, sessionId: string, c: CommandContext): Promise<void> {
    await this.bus.execute(userDecider, streams.user(userId), { type: 'Logout', sessionId }, c);
  }

  // ---------------------------------------------------------------- workspaces

  workspace(workspaceId: string): WorkspaceView {
    const w = this.readModel.workspaces.get(workspaceId);
    if (!w || w.ownerId === '') throw new NotFoundError('workspace', workspaceId);
    return w;
  }

  async createWorkspace(name: string, ownerId: string, c: CommandContext): Promise<WorkspaceView> {
    this.user(ownerId);
    const workspaceId = this.ids.id('ws');
    await this.bus.execute(workspaceDecider, streams.workspace(workspaceId), { type: 'CreateWorkspace', workspaceId, name, ownerId }, c);
    return this.workspace(workspaceId);
  }

  async setMemberRole(workspaceId: string, userId: string, role: WorkspaceRole, c: CommandContext): Promise<void> {
    this.workspace(workspaceId);
    this.user(userId);
    await this.bus.execute(workspaceDecider, streams.workspace(workspaceId), { type: 'SetMemberRole', userId, role }, c);
  }

  async removeMember(workspaceId: string, userId: string, c: CommandContext): Promise<void> {
    this.workspace(workspaceId);
    await this.bus.execute(workspaceDecider, streams.workspace(workspaceId), { type: 'RemoveMember', userId }, c);
  }

  /** Invites an address to the workspace; the user joins only by accepting. */
  async invite(workspaceId: string, email: string, role: WorkspaceRole, ttlSeconds: number, c: CommandContext): Promise<InvitationView> {
    this.workspace(workspaceId);
    const invitationId = this.ids.id('inv');
    await this.bus.execute(
      workspaceDecider,
      streams.workspace(workspaceId),
      (_s, now) => ({ type: 'InviteMember' as const, now, invitationId, email, role, expiresAt: new Date(now.getTime() + ttlSeconds * 1000) }),
      c,
    );
    return this.invitation(invitationId);
  }

  invitation(invitationId: string): InvitationView {
    const inv = this.readModel.invitations.get(invitationId);
    if (!inv) throw new NotFoundError('invitation', invitationId);
    return inv;
  }

  async acceptInvitation(invitationId: string, user: UserView, c: CommandContext): Promise<InvitationView> {
    const inv = this.invitation(invitationId);
    await this.bus.execute(
      workspaceDecider,
      streams.workspace(inv.workspaceId),
      (_s, now) => ({ type: 'AcceptInvitation' as const, now, invitationId, userId: user.id, email: user.email }),
      c,
    );
    return this.invitation(invitationId);
  }

  async cancelInvitation(invitationId: string, reason: 'declined' | 'cancelled', c: CommandContext): Promise<InvitationView> {
    const inv = this.invitation(invitationId);
    await this.bus.execute(workspaceDecider, streams.workspace(inv.workspaceId), { type: 'CancelInvitation', invitationId, reason }, c);
    return this.invitation(invitationId);
  }

  async setPolicy(workspaceId: string, policy: WorkspacePolicy, c: CommandContext): Promise<WorkspaceView> {
    this.workspace(workspaceId);
    await this.bus.execute(workspaceDecider, streams.workspace(workspaceId), { type: 'SetPolicy', ...policy }, c);
    return this.workspace(workspaceId);
  }

  roleOf(workspaceId: string, userId: string): WorkspaceRole | null {
    return this.readModel.workspaces.get(workspaceId)?.members.get(userId)?.role ?? null;
  }

  // ---------------------------------------------------------------- keys

  key(keyId: string): KeyView {
    const k = this.readModel.keysById.get(keyId);
    if (!k) throw new NotFoundError('key', keyId);
    return k;
  }

  async createKey(input: CreateKeyInput, c: CommandContext, rotatedFrom: string | null = null, keyId = this.ids.id('key')): Promise<CreatedKey> {
    const { key, token } = await this.mintKey(input, this.bus.correlate(c), rotatedFrom, keyId);
    return { key, token };
  }

  /** Creates a key; every rule that can refuse it is checked before the first write (the handle claim). */
  private async mintKey(input: CreateKeyInput, c: CommandContext, rotatedFrom: string | null, keyId: string): Promise<CreatedKey & { eventId: string }> {
    const owner = this.user(input.userId);
    if (!owner.active) throw new DomainError('USER_INACTIVE', 'the owner is deactivated');
    const workspaceId = input.workspaceId ?? owner.defaultWorkspaceId;
    if (!workspaceId) throw new DomainError('NO_WORKSPACE', 'the user belongs to no workspace; pass workspaceId', { attr: 'workspaceId' });
    const ws = this.workspace(workspaceId);
    const role = ws.members.get(owner.id)?.role ?? null;
    if (role === null) throw new DomainError('NOT_A_MEMBER', 'the owner is not a member of this workspace', { attr: 'workspaceId' });
    const now = this.clock();
    let expiresAt = input.expiresAt ?? null;
    if (input.expiresInSeconds !== undefined && input.expiresInSeconds !== null) {
      if (expiresAt !== null) throw new DomainError('EXPIRY_AMBIGUOUS', 'give expiresAt or expiresIn, not both', { attr: 'expiresIn' });
      expiresAt = new Date(now.getTime() + input.expiresInSeconds * 1000);
    }
    const policy: WorkspacePolicy = { maxTtlSeconds: ws.maxTtlSeconds, requireExpiry: ws.requireExpiry, maxGraceSeconds: ws.maxGraceSeconds };
    checkCreationPolicy(now, expiresAt, policy);
    const format = input.format ?? 'opaque';
    const scopes = input.scopes ? [...new Set(input.scopes)].sort() : null;
    if (format !== 'opaque' && format !== 'jwt') throw new DomainError('INVALID_FORMAT', 'format must be one of opaque, jwt', { attr: 'format' });
    const handle = input.handle ?? null;
    // A JWT states the key's effective scopes at creation; an unscoped key's are its owner's role permissions.
    const token =
      format === 'jwt'
        ? await this.jwt.signKey({
            keyId,
            userId: owner.id,
            workspaceId,
            scopes: effectiveScopes(role, scopes === null ? null : new Set(scopes)).sort(),
            issuedAt: now,
            expiresAt,
          })
        : mintOpaqueToken(this.tokenPrefix);
    const sealed = input.retrievable ? this.sealer.seal(token, keyId) : null;
    const create = {
      type: 'CreateApiKey' as const,
      now,
      keyId,
      userId: owner.id,
      workspaceId,
      name: input.name,
      description: input.description ?? null,
      handle,
      alias: input.alias ?? null,
      scopes,
      format,
      digest: digestHex(token),
      start: displayStart(token, format),
      expiresAt,
      sealed,
      rotatedFrom,
      policy,
      ownerRole: role,
    };
    // Every rule the decider holds is checked before the first write (the handle claim).
    apiKeyDecider.decide(create, apiKeyDecider.initialState());
    const claim: Claim | null = handle === null ? null : { scope: 'handle', digest: handleDigest(owner.id, handle), value: handle };
    if (claim !== null) {
      // A successor takes its predecessor's handle over; anyone else needs the handle to be free.
      const alive = (holder: string): boolean | undefined => {
        if (holder === rotatedFrom) return false;
        if (!this.readModel.keysById.has(holder)) return undefined;
        return this.readModel.handles.get(owner.id)?.get(claim.value) === holder;
      };
      await this.claim(claim, keyId, alive, 'HANDLE_TAKEN', c);
    }
    try {
      const res = await this.bus.execute(apiKeyDecider, streams.apiKey(keyId), create, c, { newStream: true });
      return { key: this.key(keyId), token, eventId: res.eventIds[0]! };
    } catch (err) {
      // A failed creation must not hold its handle (a successor's goes back to its predecessor).
      if (claim !== null) await this.releaseClaim(claim, keyId, rotatedFrom, c);
      throw err;
    }
  }

  async updateKey(
    keyId: string,
    patch: { name?: string; description?: string | null; alias?: string | null; expiresAt?: unknown },
    c: CommandContext,
  ): Promise<KeyView> {
    this.key(keyId);
    await this.bus.execute(apiKeyDecider, streams.apiKey(keyId), (_s, now) => ({ type: 'UpdateApiKey' as const, now, ...patch }), c);
    return this.key(keyId);
  }

  /** Returns a retrievable key's token and records the reveal. */
  async revealKey(keyId: string, c: CommandContext): Promise<string> {
    this.key(keyId);
    await this.bus.execute(apiKeyDecider, streams.apiKey(keyId), (_s, now) => ({ type: 'RevealApiKeySecret' as const, now }), c);
    const created = (await this.store.readStream(streams.apiKey(keyId), { maxCount: 1 }))[0];
    const e = created ? toStoredEvent(created) : null;
    if (!e || e.type !== 'ApiKeyCreated' || e.data.sealed === null) throw new DomainError('KEY_NOT_RETRIEVABLE', 'this key was not created as retrievable');
    return this.sealer.open(e.data.sealed, keyId);
  }

  async revokeKey(keyId: string, reason: string | null, c: CommandContext): Promise<KeyView> {
    this.key(keyId);
    await this.bus.execute(apiKeyDecider, streams.apiKey(keyId), (_s, now) => ({ type: 'RevokeApiKey' as const, now, reason, by: c.actor }), c);
    return this.key(keyId);
  }

  /** Revokes the user's keys that `which` selects (all by default); answers how many. */
  async revokeAllKeys(userId: string, reason: string | null, c: CommandContext, which: (k: KeyView) => boolean = () => true): Promise<number> {
    const keys = (this.readModel.keysByUser.get(userId) ?? []).filter((k) => k.status !== KeyStatus.Revoked && which(k));
    for (const k of keys) await this.revokeKey(k.id, reason, c);
    return keys.length;
  }

  async expireKey(keyId: string, c: CommandContext = SYSTEM): Promise<void> {
    await this.bus.execute(apiKeyDecider, streams.apiKey(keyId), (_s, now) => ({ type: 'ExpireApiKey' as const, now }), c);
  }

  /**
   * Creates the successor first-class key, links both ways, and retires the old one after the grace period (default 0).
   * Every rule is checked and the successor created before the old key is touched, so a refused rotation leaves the
   * old key working; if the old key's rotation then loses a race (revoked, expired or rotated meanwhile), the
   * successor is revoked ('rotation_aborted'). All writes share one correlation id.
   */
  async rotateKey(keyId: string, graceSeconds: number | null | undefined, c: CommandContext): Promise<CreatedKey> {
    const old = this.key(keyId);
    const ws = this.workspace(old.workspaceId);
    const successorId = this.ids.id('key');
    const maxGraceSeconds = ws.maxGraceSeconds ?? this.maxGraceSeconds;
    const rotate = (_s: ApiKeyState, now: Date) => ({ type: 'RotateApiKey' as const, now, successorId, graceSeconds: graceSeconds ?? 0, maxGraceSeconds });
    const cc = this.bus.correlate(c);
    await this.bus.check(apiKeyDecider, streams.apiKey(keyId), rotate);
    // The successor gets the same lifetime length, within the workspace's current maximum.
    const ttl = old.requestedExpiresAt === null ? null : Math.round((old.requestedExpiresAt - old.createdAt) / 1000);
    const successor = await this.mintKey(
      {
        userId: old.owner.id,
        workspaceId: old.workspaceId,
        name: old.name,
        description: old.description,
        handle: old.handle,
        alias: old.alias,
        // Never broader than the old key now is: scopes the owner's role no longer holds are dropped.
        scopes: old.scopes === null ? null : [...old.scopes].filter((s) => roleAllows(old.membership.role, s)),
        expiresInSeconds: ttl === null ? null : Math.min(ttl, ws.maxTtlSeconds ?? ttl),
        format: old.format,
        retrievable: old.retrievable,
      },
      cc,
      keyId,
      successorId,
    );
    // The old key's rotation is caused by its successor's creation.
    const caused = { ...cc, causationId: successor.eventId };
    try {
      await this.bus.execute(apiKeyDecider, streams.apiKey(keyId), rotate, caused);
    } catch (err) {
      await this.abortSuccessor(successor.key, old, caused);
      throw err;
    }
    return { key: this.key(successorId), token: successor.token };
  }

  /** A successor whose predecessor was not rotated must never work; a live predecessor gets its handle back. */
  private async abortSuccessor(successor: KeyView, old: KeyView, c: CommandContext): Promise<void> {
    try {
      await this.bus.execute(
        apiKeyDecider,
        streams.apiKey(successor.id),
        (_s, now) => ({ type: 'RevokeApiKey' as const, now, reason: 'rotation_aborted', by: SYSTEM_ACTOR }),
        { ...c, actor: SYSTEM_ACTOR },
      );
    } catch (err) {
      this.log(`revoking the aborted successor ${successor.id} failed`, err);
    }
    if (old.handle !== null && old.status === KeyStatus.Active) {
      await this.releaseClaim({ scope: 'handle', digest: handleDigest(old.owner.id, old.handle), value: old.handle }, successor.id, old.id, c);
    }
  }
}
