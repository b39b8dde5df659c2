// JSON shapes of users, workspaces and keys as the API returns them. A key view never holds its token.
import type { Ledger } from '../ledger.js';
import type { InvitationView, KeyView, UserView, WorkspaceView } from '../../projections/read-model/views.js';
import { LIFECYCLE } from '../../projections/read-model/read-model.js';
import { keyLifePhase } from '../domain/key-validity.js';
import { z } from 'zod';
import { OAUTH_ERROR_CODES } from './errors.js';
import { KEY_FORMATS, ROLES, SYSTEM_ROLES } from '../schemas/inputs.js';

const iso = (ms: number | null): string | null =>
  ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
// Creation and invitation times come from event times the ledger wrote itself, so they are always real instants.
const isoAt = (ms: number): string => new Date(ms).toISOString();

export function userJson(u: UserView): z.output<typeof userSchema> {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    systemRole: u.systemRole,
    active: u.active,
    defaultWorkspaceId: u.defaultWorkspaceId,
    createdAt: isoAt(u.createdAt),
  };
}

export function workspaceJson(w: WorkspaceView, withMembers = false): z.output<typeof workspaceSchema> {
  const out: z.output<typeof workspaceSchema> = {
    id: w.id,
    name: w.name,
    ownerId: w.ownerId,
    policy: { maxTtl: w.maxTtlSeconds, requireExpiry: w.requireExpiry, maxGracePeriod: w.maxGraceSeconds },
    createdAt: isoAt(w.createdAt),
  };
  if (withMembers)
    out.members = [...w.members.entries()].flatMap(([userId, m]) =>
      m.role === null ? [] : [{ userId, role: m.role }],
    );
  return out;
}

export type KeyStatusName = 'active' | 'expired' | 'revoked';

/** The key's own status now: a key in its rotation grace is still active. */
export function keyStatus(k: KeyView, now: number): KeyStatusName {
  const phase = keyLifePhase(LIFECYCLE[k.status], k.expiresAt, k.graceEndsAt, now);
  return phase === 'rotation_grace' ? 'active' : phase;
}

export function keyJson(ledger: Ledger, k: KeyView): z.output<typeof keySchema> {
  const now = ledger.now();
  const pending = ledger.usage.pendingFor(k.id);
  const lastUsed =
    pending.lastAt !== null && (k.lastUsedAt === null || pending.lastAt > k.lastUsedAt) ? pending.lastAt : k.lastUsedAt;
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
    createdAt: isoAt(k.createdAt),
    lastUsedAt: iso(lastUsed),
    useCount: k.useCount + pending.count,
    rotatedFrom: k.rotatedFrom,
    rotatedTo: k.rotatedTo,
    graceEndsAt: iso(k.graceEndsAt),
    revokedAt: iso(k.revokedAt),
    revokeReason: k.revokeReason,
  };
}

export function invitationJson(i: InvitationView, now: number): z.output<typeof invitationSchema> {
  return {
    id: i.id,
    workspaceId: i.workspaceId,
    email: i.email,
    role: i.role,
    status: i.status === 'pending' && i.expiresAt <= now ? 'expired' : i.status,
    createdAt: isoAt(i.createdAt),
    expiresAt: isoAt(i.expiresAt),
    closedAt: iso(i.closedAt),
  };
}

/** A date-time the API writes (ISO-8601, UTC). */
export const instantOut = z.string().meta({ format: 'date-time' });
/** A JSON object whose members the document does not list. */
export const anyObject = z.record(z.string(), z.unknown());

export const invitationSchema = z.object({
  id: z.string(),
  workspaceId: z.string(),
  email: z.string(),
  role: z.enum(ROLES).nullable(),
  status: z.enum(['pending', 'accepted', 'declined', 'cancelled', 'expired']),
  createdAt: instantOut,
  expiresAt: instantOut,
  closedAt: instantOut.nullable(),
});

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  systemRole: z.enum(SYSTEM_ROLES),
  active: z.boolean(),
  defaultWorkspaceId: z.string().nullable(),
  createdAt: instantOut,
});

export const workspaceSchema = z.object({
  id: z.string(),
  name: z.string(),
  ownerId: z.string(),
  policy: z.object({ maxTtl: z.int().nullable(), requireExpiry: z.boolean(), maxGracePeriod: z.int().nullable() }),
  createdAt: instantOut,
  members: z
    .array(z.object({ userId: z.string(), role: z.enum(ROLES) }))
    .optional()
    .describe('on a single workspace'),
  role: z.enum(ROLES).nullable().optional().describe("the caller's role, in a listing"),
});

export const keySchema = z.object({
  id: z.string(),
  start: z.string().describe('first characters of the token, for recognising it'),
  name: z.string(),
  description: z.string().nullable(),
  handle: z.string().nullable(),
  alias: z.string().nullable(),
  userId: z.string(),
  workspaceId: z.string(),
  scopes: z.array(z.string()).nullable(),
  format: z.enum(KEY_FORMATS),
  status: z.enum(['active', 'expired', 'revoked']),
  retrievable: z.boolean(),
  expiresAt: instantOut.nullable(),
  createdAt: instantOut,
  lastUsedAt: instantOut.nullable(),
  useCount: z.int(),
  rotatedFrom: z.string().nullable(),
  rotatedTo: z.string().nullable(),
  graceEndsAt: instantOut.nullable(),
  revokedAt: instantOut.nullable(),
  revokeReason: z.string().nullable(),
});

export const errorSchema = z.object({
  type: z.enum(['client_error', 'validation_error', 'server_error']),
  errors: z.array(
    z.object({ code: z.string(), detail: z.string(), attr: z.string().nullable(), extra: anyObject.nullable() }),
  ),
});

/** RFC 6749 §5.2: the error body of the OAuth endpoints. */
export const oauthErrorSchema = z.object({ error: z.enum(OAUTH_ERROR_CODES), error_description: z.string() });
