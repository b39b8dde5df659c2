// The shapes the console reads from the API (see GET /openapi.json).
export interface User {
  id: string;
  email: string;
  name: string;
  systemRole: 'admin' | 'user';
  active: boolean;
  defaultWorkspaceId: string | null;
}

export interface Workspace {
  id: string;
  name: string;
  ownerId: string;
  policy: { maxTtl: number | null; requireExpiry: boolean; maxGracePeriod: number | null };
  members?: Array<{ userId: string; role: Role }>;
  role?: Role | null;
}

export type Role = 'owner' | 'admin' | 'member' | 'auditor';
export const ROLES: readonly Role[] = ['owner', 'admin', 'member', 'auditor'];

export interface Me {
  user: User;
  workspace: Workspace | null;
  credential: { kind: 'session' | 'api_key'; scheme: string; expiresAt: string | null };
  scopes: string[];
  role: Role | null;
}

export interface Key {
  id: string;
  start: string;
  name: string;
  description: string | null;
  handle: string | null;
  alias: string | null;
  userId: string;
  workspaceId: string;
  scopes: string[] | null;
  format: 'opaque' | 'jwt';
  status: 'active' | 'expired' | 'revoked';
  retrievable: boolean;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  useCount: number;
  rotatedFrom: string | null;
  rotatedTo: string | null;
  graceEndsAt: string | null;
  revokedAt: string | null;
  revokeReason: string | null;
}

export interface KeyAsOf extends Key {
  phase?: 'active' | 'rotation_grace' | 'expired' | 'revoked';
  wouldVerify?: boolean;
  at?: string;
}

export interface AuditItem {
  position: number;
  id: string;
  type: string;
  occurredAt: string;
  keyId: string | null;
  userId: string | null;
  workspaceId: string | null;
  actor: { type: string | null; id: string | null };
  request: { ip: string | null; userAgent: string | null; requestId: string | null };
  scheme: string | null;
  tokenDigest: string | null;
  event: { data: Record<string, unknown>; metadata: Record<string, unknown> };
}

export interface AuditPage {
  items: AuditItem[];
  nextCursor: string | null;
  hasMore: boolean;
}

export interface Invitation {
  id: string;
  workspaceId: string;
  email: string;
  role: Role | null;
  status: string;
  expiresAt?: string;
}
