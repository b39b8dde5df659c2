// JSON shapes of users, workspaces and keys as the API returns them. A key view never holds its token.
import type { Ledger } from '../ledger.js';
import { KeyStatus, type InvitationView, type KeyView, type UserView, type WorkspaceView } from '../../projections/read-model/views.js';
import { arr, bool, int, nullable, obj, str, type Schema } from './schema.js';

const iso = (ms: number | null): string | null => (ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString());

export function userJson(u: UserView): Record<string, unknown> {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    systemRole: u.systemRole,
    active: u.active,
    defaultWorkspaceId: u.defaultWorkspaceId,
    createdAt: iso(u.createdAt),
  };
}

export function workspaceJson(w: WorkspaceView, withMembers = false): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: w.id,
    name: w.name,
    ownerId: w.ownerId,
    policy: { maxTtl: w.maxTtlSeconds, requireExpiry: w.requireExpiry, maxGracePeriod: w.maxGraceSeconds },
    createdAt: iso(w.createdAt),
  };
  if (withMembers) out.members = [...w.members.entries()].filter(([, m]) => m.role !== null).map(([userId, m]) => ({ userId, role: m.role }));
  return out;
}

export type KeyStatusName = 'active' | 'expired' | 'revoked';

export function keyStatus(k: KeyView, now: number): KeyStatusName {
  if (k.status === KeyStatus.Revoked) return 'revoked';
  if (k.status === KeyStatus.Expired || now >= k.expiresAt) return 'expired';
  return 'active';
}

export function keyJson(ledger: Ledger, k: KeyView): Record<string, unknown> {
  const now = ledger.clock().getTime();
  const pending = ledger.usage.pendingFor(k.id);
  const lastUsed = pending.lastAt !== null && (k.lastUsedAt === null || pending.lastAt > k.lastUsedAt) ? pending.lastAt : k.lastUsedAt;
  return {
    id: k.id,
    start: k.start,
    name: k.name,
    description: k.description,
    handle: k.handle,
    alias: k.alias,
    userId: k.owner.id,
    workspaceId: k.workspaceId,
    scopes: k.scopes === null ? null : [...k.scopes],
    format: k.format,
    status: keyStatus(k, now),
    retrievable: k.retrievable,
    expiresAt: iso(k.requestedExpiresAt),
    createdAt: iso(k.createdAt),
    lastUsedAt: iso(lastUsed),
    useCount: k.useCount + pending.count,
    rotatedFrom: k.rotatedFrom,
    rotatedTo: k.rotatedTo,
    graceEndsAt: iso(k.graceEndsAt),
    revokedAt: iso(k.revokedAt),
    revokeReason: k.revokeReason,
  };
}

export function invitationJson(i: InvitationView, now: number): Record<string, unknown> {
  return {
    id: i.id,
    workspaceId: i.workspaceId,
    email: i.email,
    role: i.role,
    status: i.status === 'pending' && i.expiresAt <= now ? 'expired' : i.status,
    createdAt: iso(i.createdAt),
    expiresAt: iso(i.expiresAt),
    closedAt: iso(i.closedAt),
  };
}

export const invitationSchema: Schema = obj({
  id: str(),
  workspaceId: str(),
  email: str(),
  role: nullable(str({ enum: ['owner', 'admin', 'member', 'auditor'] })),
  status: str({ enum: ['pending', 'accepted', 'declined', 'cancelled', 'expired'] }),
  createdAt: str({ format: 'date-time' }),
  expiresAt: str({ format: 'date-time' }),
  closedAt: nullable(str({ format: 'date-time' })),
});

export const userSchema: Schema = obj({
  id: str(),
  email: str(),
  name: str(),
  systemRole: str({ enum: ['admin', 'user'] }),
  active: bool(),
  defaultWorkspaceId: nullable(str()),
  createdAt: str({ format: 'date-time' }),
});

export const workspaceSchema: Schema = obj({
  id: str(),
  name: str(),
  ownerId: str(),
  policy: obj({ maxTtl: nullable(int()), requireExpiry: bool(), maxGracePeriod: nullable(int()) }),
  createdAt: str({ format: 'date-time' }),
});

export const keySchema: Schema = obj({
  id: str(),
  start: str({ description: 'first characters of the token, for recognising it' }),
  name: str(),
  description: nullable(str()),
  handle: nullable(str()),
  alias: nullable(str()),
  userId: str(),
  workspaceId: str(),
  scopes: nullable(arr(str())),
  format: str({ enum: ['opaque', 'jwt'] }),
  status: str({ enum: ['active', 'expired', 'revoked'] }),
  retrievable: bool(),
  expiresAt: nullable(str({ format: 'date-time' })),
  createdAt: str({ format: 'date-time' }),
  lastUsedAt: nullable(str({ format: 'date-time' })),
  useCount: int(),
  rotatedFrom: nullable(str()),
  rotatedTo: nullable(str()),
  graceEndsAt: nullable(str({ format: 'date-time' })),
  revokedAt: nullable(str({ format: 'date-time' })),
  revokeReason: nullable(str()),
});

export const errorSchema: Schema = obj({
  type: str({ enum: ['client_error', 'validation_error', 'server_error'] }),
  errors: arr(obj({ code: str(), detail: str(), attr: nullable(str()), extra: nullable(obj({})) })),
});
