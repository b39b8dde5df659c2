// Input schemas every entry point shares (HTTP bodies and queries, the CLI): one definition validates and documents.
import { z } from 'zod';
import type { KeyFormat, SystemRole } from '../../events/catalog.js';
import { parseIsoInstant } from '../domain/instant.js';
import { WORKSPACE_ROLES } from '../domain/permissions.js';
import { DESCRIPTION_MAX, EMAIL_MAX, HANDLE_PATTERN, NAME_MAX, REASON_MAX } from '../domain/values.js';

export const ROLES = WORKSPACE_ROLES;
export const SYSTEM_ROLES = ['admin', 'user'] as const satisfies readonly SystemRole[];
export const KEY_FORMATS = ['opaque', 'jwt'] as const satisfies readonly KeyFormat[];

// Linear: each part is a run of one character class, separated by a single '@'.
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,255}$/;
const DURATION_RE = /^[0-9]{1,10}[smhdw]?$/;

export const role = z.enum(ROLES);
export const systemRole = z.enum(SYSTEM_ROLES);
export const email = z.email({ pattern: EMAIL_RE, error: 'must be an e-mail address' }).max(EMAIL_MAX);
export const password = z.string().max(1024);
export const handle = z
  .string()
  .regex(new RegExp(HANDLE_PATTERN))
  .describe('unique per user; the key can be addressed by it');
export const scopes = z.array(z.string().max(100)).max(100);
export const workspaceId = z.string().max(64);
export const workspaceName = z.string().min(1).max(NAME_MAX);
export const keyName = z.string().min(1).max(NAME_MAX);
export const reason = z.string().max(REASON_MAX);

/** Strict ISO-8601 date-time: 2027-02-30 is refused, not rolled over to 2 March; without an offset it is UTC. */
export const dateTime = z
  .string()
  .max(64)
  .refine((s) => parseIsoInstant(s) !== null, {
    message: 'must be an ISO-8601 date-time that exists (e.g. 2027-01-31T00:00:00Z)',
  })
  .meta({ format: 'date-time' });

/** A positive duration: seconds, or `30d` / `12h` / `15m`. */
export const duration = z
  .union([z.int().min(1), z.string().regex(DURATION_RE)], {
    error: 'must be seconds or a duration such as 30d, 12h or 15m',
  })
  .describe('seconds, or 30d / 12h / 15m');

/** Like `duration`, but zero is allowed (a rotation grace of 0 retires the old key at once). */
export const gracePeriod = z
  .union([z.int().min(0), z.string().regex(DURATION_RE)], { error: 'must be seconds or a duration such as 1h or 7d' })
  .describe('seconds, or 1h / 7d; default 0');

export const createKeyInput = z
  .strictObject({
    name: keyName.optional(),
    description: z.string().max(DESCRIPTION_MAX).nullable().optional(),
    handle: handle.optional(),
    alias: z.string().max(NAME_MAX).nullable().optional(),
    workspaceId: workspaceId.optional(),
    scopes: scopes.nullable().optional(),
    expiresAt: dateTime.nullable().optional(),
    expiresIn: duration.nullable().optional(),
    format: z.enum(KEY_FORMATS).optional(),
    retrievable: z.boolean().optional(),
  })
  .describe('name defaults to the handle (seed 002: {"handle":"ci-key"} alone creates a key)');

export const createAccountInput = z.strictObject({
  email,
  name: z.string().min(1).max(NAME_MAX),
  password,
  workspaceId: workspaceId.nullable().optional(),
  role: role.optional(),
  systemRole: systemRole.optional(),
});

export const invitationInput = z.strictObject({ email, role: role.optional(), expiresIn: duration.optional() });

export const createWorkspaceInput = z.strictObject({ name: workspaceName });

export const policyInput = z.strictObject({
  maxTtl: duration.nullable().optional(),
  requireExpiry: z.boolean().optional(),
  maxGracePeriod: duration.nullable().optional(),
});

export type CreateKeyInput = z.output<typeof createKeyInput>;
export type CreateAccountInput = z.output<typeof createAccountInput>;
export type InvitationInput = z.output<typeof invitationInput>;
export type PolicyInput = z.output<typeof policyInput>;
