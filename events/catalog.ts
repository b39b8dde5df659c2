// The ledger's vocabulary: past-tense facts. A changed shape is a new schemaVersion plus an upcaster.
import type { EventMetadata } from './metadata.js';

export type SystemRole = 'admin' | 'user';
export type WorkspaceRole = 'owner' | 'admin' | 'member' | 'auditor';
export type KeyFormat = 'opaque' | 'jwt';
export type Presentation = 'bearer' | 'api-key' | 'apitoken' | 'api-key-header' | 'url' | 'direct';

/** AES-256-GCM ciphertext of a retrievable token; never the token itself. */
export interface SealedSecret {
  readonly alg: 'A256GCM';
  readonly kid: string;
  readonly iv: string;
  readonly ct: string;
  readonly tag: string;
}

export interface UserRegistered {
  type: 'UserRegistered';
  data: { userId: string; email: string; name: string; passwordHash: string; systemRole: SystemRole };
}
export interface UserPasswordChanged {
  type: 'UserPasswordChanged';
  data: { userId: string; passwordHash: string };
}
export interface UserDeactivated {
  type: 'UserDeactivated';
  data: { userId: string; reason: string | null };
}
export interface UserReactivated {
  type: 'UserReactivated';
  data: { userId: string };
}
export interface UserLoginSucceeded {
  type: 'UserLoginSucceeded';
  data: { userId: string; sessionId: string; expiresAt: string };
}
export interface UserLoginFailed {
  type: 'UserLoginFailed';
  data: { userId: string | null; email: string; reason: 'unknown_user' | 'bad_password' | 'inactive' | 'throttled' };
}
export interface UserLoggedOut {
  type: 'UserLoggedOut';
  data: { userId: string; sessionId: string };
}
/** A password change refused: the current password was wrong, or the shared login throttle held it back. */
export interface UserPasswordChangeFailed {
  type: 'UserPasswordChangeFailed';
  data: { userId: string; reason: 'bad_password' | 'throttled' };
}
/** A system admin lifted the account's failed-login lockout. */
export interface UserLockoutLifted {
  type: 'UserLockoutLifted';
  data: { userId: string; email: string };
}

export interface WorkspaceCreated {
  type: 'WorkspaceCreated';
  data: { workspaceId: string; name: string; ownerId: string };
}
export interface WorkspaceMemberRoleSet {
  type: 'WorkspaceMemberRoleSet';
  data: { workspaceId: string; userId: string; role: WorkspaceRole };
}
export interface WorkspaceMemberRemoved {
  type: 'WorkspaceMemberRemoved';
  data: { workspaceId: string; userId: string };
}
/** Consent: a user joins only by accepting an invitation (or by a system admin). `email` is lower-case. */
export interface WorkspaceInvitationCreated {
  type: 'WorkspaceInvitationCreated';
  data: { workspaceId: string; invitationId: string; email: string; role: WorkspaceRole; expiresAt: string };
}
export interface WorkspaceInvitationAccepted {
  type: 'WorkspaceInvitationAccepted';
  data: { workspaceId: string; invitationId: string; userId: string };
}
export interface WorkspaceInvitationCancelled {
  type: 'WorkspaceInvitationCancelled';
  data: { workspaceId: string; invitationId: string; reason: 'declined' | 'cancelled' };
}
export interface WorkspacePolicySet {
  type: 'WorkspacePolicySet';
  data: { workspaceId: string; maxTtlSeconds: number | null; requireExpiry: boolean; maxGraceSeconds: number | null };
}

export interface ApiKeyCreated {
  type: 'ApiKeyCreated';
  data: {
    keyId: string;
    userId: string;
    workspaceId: string;
    name: string;
    description: string | null;
    handle: string | null;
    alias: string | null;
    scopes: string[] | null;
    format: KeyFormat;
    digest: string; // SHA-256 of the token, hex
    start: string; // short display prefix
    expiresAt: string | null;
    sealed: SealedSecret | null;
    rotatedFrom: string | null;
  };
}
export interface ApiKeyUsed {
  type: 'ApiKeyUsed';
  data: {
    keyId: string;
    count: number;
    firstAt: string;
    lastAt: string;
    lastIp: string | null;
    lastUserAgent: string | null;
    /** The way the token was presented last. */
    presentation: Presentation;
    /** Since schema version 2: how many of `count` uses came by each presentation. */
    presentations: Partial<Record<Presentation, number>>;
  };
}
export interface ApiKeyUpdated {
  type: 'ApiKeyUpdated';
  data: { keyId: string; name?: string; description?: string | null; alias?: string | null };
}
export interface ApiKeySecretRevealed {
  type: 'ApiKeySecretRevealed';
  data: { keyId: string };
}
export interface ApiKeyRotated {
  type: 'ApiKeyRotated';
  data: { keyId: string; successorId: string; graceEndsAt: string };
}
export interface ApiKeyExpired {
  type: 'ApiKeyExpired';
  data: { keyId: string; expiredAt: string; reason: 'ttl' | 'rotated' };
}
export interface ApiKeyRevoked {
  type: 'ApiKeyRevoked';
  data: { keyId: string; reason: string | null; revokedBy: { type: string; id: string } };
}

/** Uniqueness guard for e-mails and per-user key handles (one stream per value). */
export interface UniqueValueClaimed {
  type: 'UniqueValueClaimed';
  data: { scope: string; value: string; ownerId: string; claimedAt: string };
}
export interface UniqueValueReleased {
  type: 'UniqueValueReleased';
  data: { scope: string; value: string; ownerId: string };
}

/** Signed tamper-evidence checkpoint over the hash chain. */
export interface LedgerCheckpointed {
  type: 'LedgerCheckpointed';
  data: { position: number; chain: string; at: string; kid: string; signature: string };
}

export type UserEvent =
  | UserRegistered
  | UserPasswordChanged
  | UserDeactivated
  | UserReactivated
  | UserLoginSucceeded
  | UserLoginFailed
  | UserLoggedOut
  | UserPasswordChangeFailed
  | UserLockoutLifted;
export type WorkspaceEvent =
  | WorkspaceCreated
  | WorkspaceMemberRoleSet
  | WorkspaceMemberRemoved
  | WorkspacePolicySet
  | WorkspaceInvitationCreated
  | WorkspaceInvitationAccepted
  | WorkspaceInvitationCancelled;
export type ApiKeyEvent =
  ApiKeyCreated | ApiKeyUsed | ApiKeyUpdated | ApiKeySecretRevealed | ApiKeyRotated | ApiKeyExpired | ApiKeyRevoked;
export type UniqueEvent = UniqueValueClaimed | UniqueValueReleased;

/** The signing key instances sharing a store use: stored once, sealed under the master key (never in clear). */
export interface LedgerSigningKeyStored {
  type: 'LedgerSigningKeyStored';
  data: { kid: string; sealed: SealedSecret };
}

export type LedgerEvent =
  UserEvent | WorkspaceEvent | ApiKeyEvent | UniqueEvent | LedgerCheckpointed | LedgerSigningKeyStored;
/**
 * The catalogue: every event type with the schema version this build writes (a changed shape bumps it and adds an
 * upcaster in serialization.ts). `satisfies` makes it complete: an event of LedgerEvent left out fails to compile,
 * and so does an entry no event interface declares.
 */
export const EVENT_CATALOGUE = {
  UserRegistered: { schemaVersion: 1 },
  UserPasswordChanged: { schemaVersion: 1 },
  UserDeactivated: { schemaVersion: 1 },
  UserReactivated: { schemaVersion: 1 },
  UserLoginSucceeded: { schemaVersion: 1 },
  UserLoginFailed: { schemaVersion: 1 },
  UserLoggedOut: { schemaVersion: 1 },
  UserPasswordChangeFailed: { schemaVersion: 1 },
  UserLockoutLifted: { schemaVersion: 1 },
  WorkspaceCreated: { schemaVersion: 1 },
  WorkspaceMemberRoleSet: { schemaVersion: 1 },
  WorkspaceMemberRemoved: { schemaVersion: 1 },
  WorkspacePolicySet: { schemaVersion: 1 },
  WorkspaceInvitationCreated: { schemaVersion: 1 },
  WorkspaceInvitationAccepted: { schemaVersion: 1 },
  WorkspaceInvitationCancelled: { schemaVersion: 1 },
  ApiKeyCreated: { schemaVersion: 1 },
  // v2: one event per key and flush, with a count per presentation
  ApiKeyUsed: { schemaVersion: 2 },
  ApiKeyUpdated: { schemaVersion: 1 },
  ApiKeySecretRevealed: { schemaVersion: 1 },
  ApiKeyRotated: { schemaVersion: 1 },
  ApiKeyExpired: { schemaVersion: 1 },
  ApiKeyRevoked: { schemaVersion: 1 },
  UniqueValueClaimed: { schemaVersion: 1 },
  UniqueValueReleased: { schemaVersion: 1 },
  LedgerCheckpointed: { schemaVersion: 1 },
  LedgerSigningKeyStored: { schemaVersion: 1 },
} as const satisfies { readonly [T in LedgerEvent['type']]: { readonly schemaVersion: number } };

export type LedgerEventType = keyof typeof EVENT_CATALOGUE;

/** Every event type, in catalogue order. */
export const EVENT_TYPES = Object.freeze(Object.keys(EVENT_CATALOGUE) as LedgerEventType[]);

/** The schema version this build writes for `type`; 1 for a type it does not know. */
export function schemaVersionOf(type: string): number {
  return Object.hasOwn(EVENT_CATALOGUE, type) ? EVENT_CATALOGUE[type as LedgerEventType].schemaVersion : 1;
}

/** An event as the ledger hands it to projections: typed data, metadata and its place in the log. */
export type StoredEvent<E extends LedgerEvent = LedgerEvent> = E & {
  readonly metadata: EventMetadata;
  readonly streamId: string;
  readonly revision: number;
  readonly position: number;
};

/** A row read from a store tells its time without parsing the rest of its metadata (`RowEvent`). */
interface TimedRow {
  readonly occurredAtText?: string;
}

/** When the event happened, in ms (a row reads it from its metadata text, parsing the whole only if it must). */
export const occurredAt = (e: StoredEvent): number =>
  Date.parse((e as TimedRow).occurredAtText ?? e.metadata.occurredAt);

export const streams = {
  user: (id: string) => `user-${id}`,
  workspace: (id: string) => `workspace-${id}`,
  apiKey: (id: string) => `apikey-${id}`,
  unique: (scope: string, valueDigest: string) => `unique-${scope}-${valueDigest}`,
  checkpoints: 'ledger-checkpoints',
  signingKeys: 'ledger-signing-keys',
  loginFailures: (emailDigest: string) => `loginfail-${emailDigest}`,
} as const;
