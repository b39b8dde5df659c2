// API key commands: creation (with its handle claim), update, reveal, revocation, expiry, and the rotation saga.
import type { KeyFormat } from '../../events/catalog.js';
import { streams } from '../../events/catalog.js';
import { DomainError } from '../domain/errors.js';
import { SYSTEM_ACTOR } from '../../events/metadata.js';
import { toStoredEvent } from '../../events/serialization.js';
import type { EventStore } from '../../events/store/types.js';
import { KeyStatus, type KeyView } from '../../projections/read-model/views.js';
import type { JwtService } from '../crypto/jwt.js';
import type { Sealer } from '../crypto/sealing.js';
import { digestHex, displayStart, mintOpaqueToken } from '../crypto/tokens.js';
import { apiKeyDecider, checkCreationPolicy, type ApiKeyState, type WorkspacePolicy } from '../domain/api-key.js';
import { effectiveScopes, roleAllows } from '../domain/permissions.js';
import type { IdGenerator } from '../ids.js';
import { handleClaim, type Claim, type Claims } from './claims.js';
import type { CommandBus, CommandContext } from './command-bus.js';
import type { ReadSide } from './read-side.js';

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

export interface KeyCommandOptions {
  readonly store: EventStore;
  readonly bus: CommandBus;
  readonly read: ReadSide;
  readonly claims: Claims;
  readonly ids: IdGenerator;
  readonly clock: () => Date;
  readonly jwt: JwtService;
  readonly sealer: Sealer;
  readonly tokenPrefix: string;
  /** Upper bound for a rotation grace period when the workspace sets none. */
  readonly maxGraceSeconds: number;
  readonly log: (msg: string, err?: unknown) => void;
}

/** The ledger's own context for writes nobody asked for (expiry, an aborted rotation). */
const SYSTEM_CONTEXT: CommandContext = { actor: SYSTEM_ACTOR };

export class KeyCommands {
  constructor(private readonly o: KeyCommandOptions) {}

  async create(input: CreateKeyInput, c: CommandContext): Promise<CreatedKey> {
    const { key, token } = await this.mint(input, this.o.bus.correlate(c), null, this.o.ids.id('key'));
    return { key, token };
  }

  /** The creation command for a key, with every rule that needs no state checked (before anything is written). */
  private async prepare(input: CreateKeyInput, rotatedFrom: string | null, keyId: string) {
    const { read, clock } = this.o;
    const owner = read.user(input.userId);
    if (!owner.active) throw new DomainError('USER_INACTIVE', 'the owner is deactivated');
    const workspaceId = input.workspaceId ?? owner.defaultWorkspaceId;
    if (!workspaceId)
      throw new DomainError('NO_WORKSPACE', 'the user belongs to no workspace; pass workspaceId', {
        attr: 'workspaceId',
      });
    const ws = read.workspace(workspaceId);
    const role = read.roleOf(workspaceId, owner.id);
    if (role === null)
      throw new DomainError('NOT_A_MEMBER', 'the owner is not a member of this workspace', { attr: 'workspaceId' });
    const now = clock();
    let expiresAt = input.expiresAt ?? null;
    if (input.expiresInSeconds !== undefined && input.expiresInSeconds !== null) {
      if (expiresAt !== null)
        throw new DomainError('EXPIRY_AMBIGUOUS', 'give expiresAt or expiresIn, not both', { attr: 'expiresIn' });
      expiresAt = new Date(now.getTime() + input.expiresInSeconds * 1000);
    }
    const policy: WorkspacePolicy = {
      maxTtlSeconds: ws.maxTtlSeconds,
      requireExpiry: ws.requireExpiry,
      maxGraceSeconds: ws.maxGraceSeconds,
    };
    checkCreationPolicy(now, expiresAt, policy);
    const format = input.format ?? 'opaque';
    if (format !== 'opaque' && format !== 'jwt')
      throw new DomainError('INVALID_FORMAT', 'format must be one of opaque, jwt', { attr: 'format' });
    const scopes = input.scopes ? [...new Set(input.scopes)].sort() : null;
    // A JWT states the key's effective scopes at creation; an unscoped key's are its owner's role permissions.
    const token =
      format === 'jwt'
        ? await this.o.jwt.signKey({
            keyId,
            userId: owner.id,
            workspaceId,
            scopes: effectiveScopes(role, scopes === null ? null : new Set(scopes)).sort(),
            issuedAt: now,
            expiresAt,
          })
        : mintOpaqueToken(this.o.tokenPrefix);
    const command = {
      type: 'CreateApiKey' as const,
      now,
      keyId,
      userId: owner.id,
      workspaceId,
      name: input.name,
      description: input.description ?? null,
      handle: input.handle ?? null,
      alias: input.alias ?? null,
      scopes,
      format,
      digest: digestHex(token),
      start: displayStart(token, format),
      expiresAt,
      sealed: input.retrievable ? this.o.sealer.seal(token, keyId) : null,
      rotatedFrom,
      policy,
      ownerRole: role,
    };
    // Every rule the decider holds is checked before the first write (the handle claim).
    apiKeyDecider.decide(command, apiKeyDecider.initialState());
    return { command, token };
  }

  /** Creates a key; every rule that can refuse it is checked before the first write (the handle claim). */
  private async mint(
    input: CreateKeyInput,
    c: CommandContext,
    rotatedFrom: string | null,
    keyId: string,
  ): Promise<CreatedKey & { eventId: string }> {
    const { command, token } = await this.prepare(input, rotatedFrom, keyId);
    const handle = command.handle;
    const claim: Claim | null = handle === null ? null : handleClaim(command.userId, handle);
    if (claim !== null) {
      // A successor takes its predecessor's handle over; anyone else needs the handle to be free.
      const alive = (holder: string): boolean | undefined => {
        if (holder === rotatedFrom) return false;
        if (!this.o.read.findKey(holder)) return undefined;
        return this.o.read.handleHolder(command.userId, claim.value) === holder;
      };
      await this.o.claims.claim(claim, keyId, alive, 'HANDLE_TAKEN', c);
    }
    try {
      const res = await this.o.bus.execute(apiKeyDecider, streams.apiKey(keyId), command, c, { newStream: true });
      return { key: this.o.read.key(keyId), token, eventId: res.eventIds[0]! };
    } catch (err) {
      // A failed creation must not hold its handle (a successor's goes back to its predecessor).
      if (claim !== null) await this.o.claims.release(claim, keyId, rotatedFrom, c);
      throw err;
    }
  }

  async update(
    keyId: string,
    patch: { name?: string; description?: string | null; alias?: string | null; expiresAt?: unknown },
    c: CommandContext,
  ): Promise<KeyView> {
    this.o.read.key(keyId);
    await this.o.bus.execute(
      apiKeyDecider,
      streams.apiKey(keyId),
      (_s, now) => ({ type: 'UpdateApiKey' as const, now, ...patch }),
      c,
    );
    return this.o.read.key(keyId);
  }

  /** Returns a retrievable key's token and records the reveal. */
  async reveal(keyId: string, c: CommandContext): Promise<string> {
    this.o.read.key(keyId);
    await this.o.bus.execute(
      apiKeyDecider,
      streams.apiKey(keyId),
      (_s, now) => ({ type: 'RevealApiKeySecret' as const, now }),
      c,
    );
    const created = (await this.o.store.readStream(streams.apiKey(keyId), { maxCount: 1 }))[0];
    const e = created ? toStoredEvent(created) : null;
    if (!e || e.type !== 'ApiKeyCreated' || e.data.sealed === null)
      throw new DomainError('KEY_NOT_RETRIEVABLE', 'this key was not created as retrievable');
    return this.o.sealer.open(e.data.sealed, keyId);
  }

  async revoke(keyId: string, reason: string | null, c: CommandContext): Promise<KeyView> {
    this.o.read.key(keyId);
    await this.o.bus.execute(
      apiKeyDecider,
      streams.apiKey(keyId),
      (_s, now) => ({ type: 'RevokeApiKey' as const, now, reason, by: c.actor }),
      c,
    );
    return this.o.read.key(keyId);
  }

  /** Revokes the user's keys that `which` selects (all by default); answers how many. */
  async revokeAll(
    userId: string,
    reason: string | null,
    c: CommandContext,
    which: (k: KeyView) => boolean = () => true,
  ): Promise<number> {
    const keys = this.o.read.keysOf(userId).filter((k) => k.status !== KeyStatus.Revoked && which(k));
    for (const k of keys) await this.revoke(k.id, reason, c);
    return keys.length;
  }

  async expire(keyId: string, c: CommandContext = SYSTEM_CONTEXT): Promise<void> {
    await this.o.bus.execute(
      apiKeyDecider,
      streams.apiKey(keyId),
      (_s, now) => ({ type: 'ExpireApiKey' as const, now }),
      c,
    );
  }

  /**
   * Creates the successor first-class key, links both ways, and retires the old one after the grace period (default 0).
   * Every rule is checked and the successor created before the old key is touched, so a refused rotation leaves the
   * old key working; if the old key's rotation then loses a race (revoked, expired or rotated meanwhile), the
   * successor is revoked ('rotation_aborted'). All writes share one correlation id.
   */
  async rotate(keyId: string, graceSeconds: number | null | undefined, c: CommandContext): Promise<CreatedKey> {
    const { read, bus } = this.o;
    const old = read.key(keyId);
    const ws = read.workspace(old.workspaceId);
    const successorId = this.o.ids.id('key');
    const maxGraceSeconds = ws.maxGraceSeconds ?? this.o.maxGraceSeconds;
    const rotate = (_s: ApiKeyState, now: Date) => ({
      type: 'RotateApiKey' as const,
      now,
      successorId,
      graceSeconds: graceSeconds ?? 0,
      maxGraceSeconds,
    });
    const cc = bus.correlate(c);
    await bus.check(apiKeyDecider, streams.apiKey(keyId), rotate);
    // The successor gets the same lifetime length, within the workspace's current maximum.
    const ttl = old.requestedExpiresAt === null ? null : Math.round((old.requestedExpiresAt - old.createdAt) / 1000);
    const successor = await this.mint(
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
      await bus.execute(apiKeyDecider, streams.apiKey(keyId), rotate, caused);
    } catch (err) {
      await this.abortSuccessor(successor.key, old, caused);
      throw err;
    }
    return { key: read.key(successorId), token: successor.token };
  }

  /** A successor whose predecessor was not rotated must never work; a live predecessor gets its handle back. */
  private async abortSuccessor(successor: KeyView, old: KeyView, c: CommandContext): Promise<void> {
    try {
      await this.o.bus.execute(
        apiKeyDecider,
        streams.apiKey(successor.id),
        (_s, now) => ({ type: 'RevokeApiKey' as const, now, reason: 'rotation_aborted', by: SYSTEM_ACTOR }),
        { ...c, actor: SYSTEM_ACTOR },
      );
    } catch (err) {
      this.o.log(`revoking the aborted successor ${successor.id} failed`, err);
    }
    if (old.handle !== null && old.status === KeyStatus.Active)
      await this.o.claims.release(handleClaim(old.owner.id, old.handle), successor.id, old.id, c);
  }
}
