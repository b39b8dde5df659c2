// Shapes held by the in-memory read model. Key views point at shared user/membership objects,
// so deactivating a user or removing a member stops their keys without touching key state.
import type { KeyFormat, SystemRole, WorkspaceRole } from '../../events/catalog.js';

export interface UserView {
  readonly id: string;
  email: string;
  name: string;
  systemRole: SystemRole;
  active: boolean;
  passwordHash: string;
  defaultWorkspaceId: string | null;
  createdAt: number;
}

/** One object per (workspace, user), shared by every key of that user in that workspace. */
export interface Membership {
  role: WorkspaceRole | null;
}

export interface WorkspaceView {
  readonly id: string;
  name: string;
  ownerId: string;
  maxTtlSeconds: number | null;
  requireExpiry: boolean;
  maxGraceSeconds: number | null;
  readonly members: Map<string, Membership>;
  createdAt: number;
}

export interface InvitationView {
  readonly id: string;
  readonly workspaceId: string;
  /** Lower-case. */
  readonly email: string;
  readonly role: WorkspaceRole | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly invitedBy: { readonly type: string; readonly id: string } | null;
  status: 'pending' | 'accepted' | 'declined' | 'cancelled';
  closedAt: number | null;
}

export const KeyStatus = { Active: 0, Expired: 1, Revoked: 2 } as const;
export type KeyStatus = (typeof KeyStatus)[keyof typeof KeyStatus];

export interface KeyView {
  readonly id: string;
  readonly digest: string;
  readonly owner: UserView;
  readonly workspaceId: string;
  readonly membership: Membership;
  readonly scopes: ReadonlySet<string> | null;
  readonly format: KeyFormat;
  readonly start: string;
  readonly createdAt: number;
  /** ms; Infinity when the key never expires. Also lowered to the end of a rotation grace. */
  expiresAt: number;
  readonly requestedExpiresAt: number | null;
  status: KeyStatus;
  name: string;
  description: string | null;
  handle: string | null;
  alias: string | null;
  retrievable: boolean;
  rotatedFrom: string | null;
  rotatedTo: string | null;
  graceEndsAt: number | null;
  lastUsedAt: number | null;
  useCount: number;
  revokedAt: number | null;
  revokeReason: string | null;
  expiredAt: number | null;
}

export type VerifyCode =
  | 'VALID'
  | 'MALFORMED'
  | 'NOT_FOUND'
  | 'EXPIRED'
  | 'REVOKED'
  | 'OWNER_INACTIVE'
  | 'NOT_A_MEMBER'
  | 'INSUFFICIENT_SCOPE';

export interface VerifyResult {
  readonly valid: boolean;
  readonly code: VerifyCode;
  readonly key: KeyView | null;
}
