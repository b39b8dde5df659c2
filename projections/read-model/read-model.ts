// In-memory lookup/revocation read model: pure evolve over ledger events, plus the verify hot path.
import { hash, type BinaryToTextEncoding } from 'node:crypto';
import { occurredAt, type LedgerEvent, type LedgerEventType, type StoredEvent } from '../../events/catalog.js';
import { toStoredEvent } from '../../events/serialization.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { keyPhase, type KeyLifecycle, type KeyPhase } from '../../services/domain/key-validity.js';
import { allows, asRole } from '../../services/domain/permissions.js';
import { isWellFormedOpaque, looksLikeJwt } from '../../services/crypto/tokens.js';
import { KeyTable, type LiveKey, type LiveMembership } from './key-table.js';
import {
  KeyStatus,
  type InvitationView,
  type KeyView,
  type UserView,
  type VerifyCode,
  type VerifyResult,
  type WorkspaceView,
} from './views.js';

// crypto.hash accepts any Buffer encoding for its output; the typings list only the text ones.
const LATIN1 = 'latin1' as BinaryToTextEncoding;
const MALFORMED: VerifyResult = Object.freeze({ valid: false, code: 'MALFORMED', key: null });
const NOT_FOUND: VerifyResult = Object.freeze({ valid: false, code: 'NOT_FOUND', key: null });
const EMPTY_MEMBERSHIPS: ReadonlyMap<string, LiveMembership> = new Map();
/** The read model's compact status as the domain names it. */
export const LIFECYCLE: { readonly [S in KeyStatus]: KeyLifecycle } = {
  [KeyStatus.Active]: 'active',
  [KeyStatus.Expired]: 'expired',
  [KeyStatus.Revoked]: 'revoked',
};
/** The verify code of each phase that does not verify. */
const REFUSAL = {
  expired: 'EXPIRED',
  revoked: 'REVOKED',
  owner_inactive: 'OWNER_INACTIVE',
  not_a_member: 'NOT_A_MEMBER',
} as const satisfies Record<Exclude<KeyPhase, 'active' | 'rotation_grace'>, VerifyCode>;

export interface VerifyOptions {
  readonly scopes?: readonly string[] | undefined;
  readonly now?: number | undefined;
}

export class ReadModel {
  position = -1;
  readonly users = new Map<string, UserView>();
  readonly usersByEmail = new Map<string, UserView>();
  readonly workspaces = new Map<string, WorkspaceView>();
  /** userId → workspaceId → membership (the same objects as in each workspace's members). */
  private readonly memberships = new Map<string, Map<string, LiveMembership>>();
  /** Workspace invitations by id, pending or closed. */
  readonly invitations = new Map<string, InvitationView>();
  /** Every key, by id (get/has/values) and by digest (the verify path). */
  readonly keysById = new KeyTable();
  /** userId → handle → key id (live handles only). */
  readonly handles = new Map<string, Map<string, string>>();
  /** userId → their keys, newest last. */
  readonly keysByUser = new Map<string, LiveKey[]>();
  /** Login sessions known to the ledger; a session JWT is honoured only while its entry is live. */
  readonly sessions = new Map<string, { userId: string; expiresAt: number; ended: boolean }>();
  private readonly userSessions = new Map<string, Set<string>>();
  private readonly scopeSets = new Map<string, ReadonlySet<string>>();
  private readonly observers = new Set<(e: StoredEvent) => void>();

  /** The observers registered so far (a restored model takes them over). */
  listeners(): Array<(e: StoredEvent) => void> {
    return [...this.observers];
  }

  /** Observe each event after it is applied (expiry scheduler, metrics). */
  onApplied(fn: (e: StoredEvent) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  offApplied(fn: (e: StoredEvent) => void): void {
    this.observers.delete(fn);
  }

  verify(token: string, opts: VerifyOptions = {}): VerifyResult {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return MALFORMED;
    // Raw 32-byte digest as a latin1 string: no hex encoding, compared in constant time by the table.
    const key = this.keysById.byRawDigest(hash('sha256', token, LATIN1));
    // Every stored key was minted well-formed, so the shape (checksum) check is needed only to name a miss.
    if (key === undefined) return isWellFormedOpaque(token) || looksLikeJwt(token) ? NOT_FOUND : MALFORMED;
    return this.check(key, opts);
  }

  /** The same rules as verify, for a key found by other means (e.g. a JWT's jti). */
  check(key: KeyView, opts: VerifyOptions = {}): VerifyResult {
    const role = key.membership.role;
    const phase = keyPhase(
      LIFECYCLE[key.status],
      key.expiresAt,
      key.graceEndsAt,
      key.owner.active,
      role,
      opts.now ?? Date.now(),
    );
    if (phase !== 'active' && phase !== 'rotation_grace') return { valid: false, code: REFUSAL[phase], key };
    const wanted = opts.scopes;
    if (wanted !== undefined) {
      for (const s of wanted)
        if (!allows(role, key.scopes, s)) return { valid: false, code: 'INSUFFICIENT_SCOPE', key };
    }
    return { valid: true, code: 'VALID', key };
  }

  membership(workspaceId: string, userId: string): LiveMembership {
    let ws = this.workspaces.get(workspaceId);
    if (ws === undefined) {
      // A key may name a workspace whose events are not applied yet only in corrupt logs; keep a placeholder.
      ws = {
        id: workspaceId,
        name: '',
        ownerId: '',
        maxTtlSeconds: null,
        requireExpiry: false,
        maxGraceSeconds: null,
        members: new Map(),
        createdAt: 0,
      };
      this.workspaces.set(workspaceId, ws);
    }
    let m = ws.members.get(userId) as LiveMembership | undefined;
    if (m === undefined) {
      // The workspace id is shared by every key in it, instead of one string per key.
      m = { workspaceId: ws.id, role: null };
      ws.members.set(userId, m);
      let mine = this.memberships.get(userId);
      if (mine === undefined) this.memberships.set(userId, (mine = new Map()));
      mine.set(ws.id, m);
    }
    return m;
  }

  /** A user's memberships by workspace id (a live view; roles may be null after removal). */
  membershipsOf(userId: string): ReadonlyMap<string, LiveMembership> {
    return this.memberships.get(userId) ?? EMPTY_MEMBERSHIPS;
  }

  /** The indexes the public maps do not show; for the image codec (image.ts) only. */
  get internals(): {
    readonly memberships: Map<string, Map<string, LiveMembership>>;
    readonly userSessions: Map<string, Set<string>>;
  } {
    return { memberships: this.memberships, userSessions: this.userSessions };
  }

  /** One shared set per distinct scope list. */
  internScopes(scopes: string[] | null): ReadonlySet<string> | null {
    if (scopes === null) return null;
    const k = [...scopes].sort().join(' ');
    let s = this.scopeSets.get(k);
    if (s === undefined) {
      s = new Set(scopes);
      this.scopeSets.set(k, s);
    }
    return s;
  }

  /** Moves past a position that holds no ledger event (a foreign or unknown record). */
  skipTo(position: number): void {
    if (position > this.position) this.position = position;
  }

  /** Applies one event as the store recorded it: one this build cannot read only moves the position past it. */
  applyRecorded(r: RecordedEvent): void {
    const e = toStoredEvent(r);
    if (e) this.apply(e);
    else this.skipTo(r.position);
  }

  /** Applies one event; an event at or before the checkpoint (a redelivery on replay) is ignored. */
  apply(e: StoredEvent): void {
    if (e.position <= this.position) return;
    this.evolve(e);
    this.position = e.position;
    for (const l of this.observers) l(e);
  }

  /** One handler per event type: leaving a type out fails to compile. */
  private readonly handlers: {
    [T in LedgerEventType]: (e: StoredEvent<Extract<LedgerEvent, { type: T }>>) => void;
  } = {
    UserRegistered: (e) => {
      const at = occurredAt(e);
      const d = e.data;
      const u: UserView = {
        id: d.userId,
        email: d.email,
        name: d.name,
        systemRole: d.systemRole === 'admin' ? 'admin' : 'user', // anything unknown holds no system power
        active: true,
        passwordHash: d.passwordHash,
        defaultWorkspaceId: null,
        createdAt: at,
      };
      this.users.set(u.id, u);
      this.usersByEmail.set(u.email.toLowerCase(), u);
    },
    UserPasswordChanged: (e) => {
      const u = this.users.get(e.data.userId);
      if (u) u.passwordHash = e.data.passwordHash;
      this.endSessions(e.data.userId);
    },
    UserDeactivated: (e) => {
      const u = this.users.get(e.data.userId);
      if (u) u.active = false;
      this.endSessions(e.data.userId);
    },
    UserReactivated: (e) => {
      const u = this.users.get(e.data.userId);
      if (u) u.active = true;
    },
    UserLoggedOut: (e) => {
      const s = this.sessions.get(e.data.sessionId);
      if (s) s.ended = true;
    },
    UserLoginSucceeded: (e) => {
      const at = occurredAt(e);
      let mine = this.userSessions.get(e.data.userId);
      if (mine === undefined) this.userSessions.set(e.data.userId, (mine = new Set()));
      // Sessions are short-lived: forget this user's expired ones as new ones arrive.
      for (const sid of mine) {
        if ((this.sessions.get(sid)?.expiresAt ?? 0) <= at) {
          mine.delete(sid);
          this.sessions.delete(sid);
        }
      }
      mine.add(e.data.sessionId);
      this.sessions.set(e.data.sessionId, {
        userId: e.data.userId,
        expiresAt: Date.parse(e.data.expiresAt),
        ended: false,
      });
    },
    UserLoginFailed: () => undefined,
    UserPasswordChangeFailed: () => undefined,
    UserLockoutLifted: () => undefined,
    WorkspaceCreated: (e) => {
      const at = occurredAt(e);
      const d = e.data;
      const existing = this.workspaces.get(d.workspaceId);
      const ws: WorkspaceView = existing ?? {
        id: d.workspaceId,
        name: d.name,
        ownerId: d.ownerId,
        maxTtlSeconds: null,
        requireExpiry: false,
        maxGraceSeconds: null,
        members: new Map(),
        createdAt: at,
      };
      ws.name = d.name;
      ws.ownerId = d.ownerId;
      ws.createdAt = at;
      this.workspaces.set(ws.id, ws);
    },
    WorkspaceMemberRoleSet: (e) => {
      // An unknown role (old or corrupt event) degrades to no membership, never to a crash.
      this.membership(e.data.workspaceId, e.data.userId).role = asRole(e.data.role);
      const u = this.users.get(e.data.userId);
      if (u && u.defaultWorkspaceId === null) u.defaultWorkspaceId = e.data.workspaceId;
    },
    WorkspaceMemberRemoved: (e) => {
      this.membership(e.data.workspaceId, e.data.userId).role = null;
      const u = this.users.get(e.data.userId);
      if (u && u.defaultWorkspaceId === e.data.workspaceId) {
        u.defaultWorkspaceId = null;
        for (const m of this.membershipsOf(u.id).values()) {
          if (m.role !== null) {
            u.defaultWorkspaceId = m.workspaceId;
            break;
          }
        }
      }
    },
    WorkspaceInvitationCreated: (e) => {
      const at = occurredAt(e);
      const d = e.data;
      this.invitations.set(d.invitationId, {
        id: d.invitationId,
        workspaceId: d.workspaceId,
        email: d.email,
        role: asRole(d.role),
        createdAt: at,
        expiresAt: Date.parse(d.expiresAt),
        invitedBy: e.metadata.actor ?? null,
        status: 'pending',
        closedAt: null,
      });
    },
    WorkspaceInvitationAccepted: (e) => this.closeInvitation(e.data.invitationId, 'accepted', occurredAt(e)),
    WorkspaceInvitationCancelled: (e) => this.closeInvitation(e.data.invitationId, e.data.reason, occurredAt(e)),
    WorkspacePolicySet: (e) => {
      const ws = this.workspaces.get(e.data.workspaceId);
      if (ws) {
        ws.maxTtlSeconds = e.data.maxTtlSeconds;
        ws.requireExpiry = e.data.requireExpiry;
        ws.maxGraceSeconds = e.data.maxGraceSeconds;
      }
    },
    ApiKeyCreated: (e) => {
      const at = occurredAt(e);
      const d = e.data;
      const owner = this.users.get(d.userId);
      if (owner === undefined) return; // a key of an unknown user can never verify
      const k = this.keysById.add(d.digest, {
        id: d.keyId,
        owner,
        membership: this.membership(d.workspaceId, d.userId),
        scopes: this.internScopes(d.scopes),
        format: d.format === 'jwt' ? 'jwt' : 'opaque',
        start: d.start,
        createdAt: at,
        expiresAt: d.expiresAt === null ? null : Date.parse(d.expiresAt),
        name: d.name,
        description: d.description,
        handle: d.handle,
        alias: d.alias,
        retrievable: d.sealed !== null,
        rotatedFrom: d.rotatedFrom,
      });
      if (k === undefined) return; // replayed or duplicate creation: the first one stands
      let list = this.keysByUser.get(d.userId);
      if (list === undefined) this.keysByUser.set(d.userId, (list = []));
      list.push(k);
      // The old key links to its successor only once ApiKeyRotated is written: a rotation can still abort.
      if (d.handle !== null) this.handleMap(d.userId).set(d.handle, k.id);
    },
    ApiKeyUsed: (e) => {
      const k = this.keysById.get(e.data.keyId);
      if (k) {
        k.useCount += e.data.count;
        const last = Date.parse(e.data.lastAt);
        if (k.lastUsedAt === null || last > k.lastUsedAt) k.lastUsedAt = last;
      }
    },
    ApiKeyUpdated: (e) => {
      const k = this.keysById.get(e.data.keyId);
      if (k) {
        if (e.data.name !== undefined) k.name = e.data.name;
        if (e.data.description !== undefined) k.description = e.data.description;
        if (e.data.alias !== undefined) k.alias = e.data.alias;
      }
    },
    ApiKeySecretRevealed: () => undefined,
    ApiKeyRotated: (e) => {
      const k = this.keysById.get(e.data.keyId);
      if (k) {
        k.rotatedTo = e.data.successorId;
        const graceEndsAt = Date.parse(e.data.graceEndsAt);
        k.graceEndsAt = graceEndsAt;
        if (graceEndsAt < k.expiresAt) k.expiresAt = graceEndsAt;
      }
    },
    ApiKeyExpired: (e) => {
      const k = this.keysById.get(e.data.keyId);
      if (k && k.status === KeyStatus.Active) {
        k.status = KeyStatus.Expired;
        k.expiredAt = Date.parse(e.data.expiredAt);
        this.releaseHandle(k);
      }
    },
    ApiKeyRevoked: (e) => {
      const at = occurredAt(e);
      const k = this.keysById.get(e.data.keyId);
      if (k && k.status !== KeyStatus.Revoked) {
        k.status = KeyStatus.Revoked;
        k.revokedAt = at;
        k.revokeReason = e.data.reason;
        this.releaseHandle(k);
      }
    },
    UniqueValueClaimed: () => undefined,
    UniqueValueReleased: () => undefined,
    LedgerCheckpointed: () => undefined,
    LedgerSigningKeyStored: () => undefined,
  };

  private evolve(e: StoredEvent): void {
    const handle = this.handlers[e.type] as (e: StoredEvent) => void;
    handle(e);
  }

  private closeInvitation(invitationId: string, status: InvitationView['status'], at: number): void {
    const inv = this.invitations.get(invitationId);
    if (inv && inv.status === 'pending') {
      inv.status = status;
      inv.closedAt = at;
    }
  }

  private endSessions(userId: string): void {
    for (const sid of this.userSessions.get(userId) ?? []) {
      const s = this.sessions.get(sid);
      if (s) s.ended = true;
    }
  }

  /** A session JWT is honoured only if the ledger recorded its login, it has not ended, and its user is active. */
  sessionActive(sessionId: string, userId: string, now: number): boolean {
    const s = this.sessions.get(sessionId);
    return (
      s !== undefined && !s.ended && s.userId === userId && now < s.expiresAt && this.users.get(userId)?.active === true
    );
  }

  private handleMap(userId: string): Map<string, string> {
    let m = this.handles.get(userId);
    if (m === undefined) this.handles.set(userId, (m = new Map()));
    return m;
  }

  private releaseHandle(k: LiveKey): void {
    if (k.handle === null) return;
    const m = this.handles.get(k.owner.id);
    if (m?.get(k.handle) !== k.id) return;
    m.delete(k.handle);
    // An aborted rotation's successor hands the handle back to the still-live key it would have replaced.
    const prev = k.rotatedFrom === null ? undefined : this.keysById.get(k.rotatedFrom);
    if (prev && prev.status === KeyStatus.Active && prev.rotatedTo !== k.id && prev.handle === k.handle)
      m.set(k.handle, prev.id);
  }

  /** A key by id, or by one of the user's live handles. */
  findKey(userId: string, idOrHandle: string): LiveKey | undefined {
    const byId = this.keysById.get(idOrHandle);
    if (byId) return byId;
    const id = this.handles.get(userId)?.get(idOrHandle);
    return id === undefined ? undefined : this.keysById.get(id);
  }

  /** Plain-data image for rebuild-equality checks. */
  snapshot(): unknown {
    const keys = [...this.keysById.values()].map((k) => ({
      ...k.toJSON(),
      owner: k.owner.id,
      membership: k.membership.role,
      scopes: k.scopes === null ? null : [...k.scopes].sort(),
      expiresAt: Number.isFinite(k.expiresAt) ? k.expiresAt : null,
    }));
    const workspaces = [...this.workspaces.values()].map((w) => ({
      ...w,
      members: [...w.members.entries()].map(([u, m]) => [u, m.role]).sort(),
    }));
    const handles = [...this.handles.entries()].map(([u, m]) => [u, [...m.entries()].sort()]).sort();
    const invitations = [...this.invitations.values()];
    return {
      position: this.position,
      users: [...this.users.values()],
      workspaces,
      keys,
      handles,
      invitations,
      sessions: [...this.sessions.entries()].sort(),
    };
  }
}
