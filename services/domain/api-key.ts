// API key aggregate: creation rules, expiry fixed at birth, permanent revocation, rotation with grace.
import type { ApiKeyEvent, KeyFormat, Presentation, SealedSecret } from '../../events/catalog.js';
import { DomainError } from './errors.js';
import { assertNever, type Decider } from './decider.js';
import { endOfLife as keyEndOfLife, keyLifePhase, type KeyLifecycle } from './key-validity.js';
import { isValidScope, roleAllows } from './permissions.js';
import {
  DESCRIPTION_MAX,
  NAME_MAX,
  REASON_MAX,
  requireHandle,
  requireInstant,
  requireOneOf,
  requireOptionalText,
  requireText,
} from './values.js';

const KEY_FORMATS: readonly KeyFormat[] = ['opaque', 'jwt'];
const DIGEST_RE = /^[0-9a-f]{64}$/;
const MAX_SCOPES = 100;

/** Scopes must be well-formed and held by the owner's role in the key's workspace: a key never claims more. */
function requireScopes(scopes: unknown, ownerRole: string | null): string[] | null {
  if (scopes === null || scopes === undefined) return null;
  if (!Array.isArray(scopes) || scopes.length > MAX_SCOPES)
    throw new DomainError('INVALID_SCOPE', `scopes must be a list of at most ${MAX_SCOPES}`, { attr: 'scopes' });
  const out = [...new Set(scopes as unknown[])];
  for (const [i, s] of out.entries()) {
    if (!isValidScope(s))
      throw new DomainError('INVALID_SCOPE', `scopes[${i}] must look like "resource:action"`, { attr: `scopes[${i}]` });
    if (!roleAllows(ownerRole, s)) {
      throw new DomainError('SCOPE_NOT_HELD', `your role does not hold ${s}, so a key cannot be given it`, {
        attr: `scopes[${i}]`,
        scope: s,
      });
    }
  }
  return (out as string[]).sort();
}

export interface WorkspacePolicy {
  readonly maxTtlSeconds: number | null;
  readonly requireExpiry: boolean;
  readonly maxGraceSeconds: number | null;
}

export type ApiKeyCommand =
  | {
      type: 'CreateApiKey';
      now: Date;
      keyId: string;
      userId: string;
      workspaceId: string;
      name: string;
      description: string | null;
      handle: string | null;
      alias: string | null;
      scopes: string[] | null;
      format: KeyFormat;
      digest: string;
      start: string;
      expiresAt: Date | null;
      sealed: SealedSecret | null;
      rotatedFrom: string | null;
      policy: WorkspacePolicy;
      /** The owner's role in the workspace now: requested scopes must be within it. */
      ownerRole: string | null;
    }
  | {
      type: 'RecordApiKeyUse';
      count: number;
      firstAt: Date;
      lastAt: Date;
      lastIp: string | null;
      lastUserAgent: string | null;
      /** The way the token was presented last; `presentations` counts every way it was presented. */
      presentation: Presentation;
      presentations: Partial<Record<Presentation, number>>;
    }
  | {
      type: 'UpdateApiKey';
      now: Date;
      name?: string;
      description?: string | null;
      alias?: string | null;
      expiresAt?: unknown;
    }
  | { type: 'RevealApiKeySecret'; now: Date }
  /** Without `graceSeconds` the old key is retired at once (grace 0). */
  | { type: 'RotateApiKey'; now: Date; successorId: string; graceSeconds?: number | undefined; maxGraceSeconds: number }
  | { type: 'ExpireApiKey'; now: Date }
  | { type: 'RevokeApiKey'; now: Date; reason: string | null; by: { type: string; id: string } };

export type ApiKeyStatus = KeyLifecycle;

export type ApiKeyState =
  | { readonly exists: false }
  | {
      readonly exists: true;
      readonly keyId: string;
      readonly userId: string;
      readonly workspaceId: string;
      readonly status: ApiKeyStatus;
      readonly expiresAt: number | null; // ms
      readonly retrievable: boolean;
      readonly successorId: string | null;
      readonly graceEndsAt: number | null;
      readonly name: string;
      readonly description: string | null;
      readonly alias: string | null;
    };

const MAX_TTL_SECONDS = 100 * 365 * 24 * 3600;

/** A key past its expiry instant (or grace end) counts as expired even before ApiKeyExpired is written. */
function requireLive(
  state: ApiKeyState,
  what: string,
  now: Date,
): asserts state is Extract<ApiKeyState, { exists: true }> {
  if (!state.exists) throw new DomainError('KEY_NOT_FOUND', `cannot ${what}: the key does not exist`);
  const phase = keyLifePhase(state.status, state.expiresAt, state.graceEndsAt, now.getTime());
  if (phase === 'revoked') throw new DomainError('KEY_REVOKED', `cannot ${what}: the key is revoked`);
  if (phase === 'expired') throw new DomainError('KEY_EXPIRED', `cannot ${what}: the key has expired`);
}

/** The creation rules that need no state: checked before anything is written (e.g. before a handle is claimed). */
export function checkCreationPolicy(now: Date, expiresAt: Date | null, p: WorkspacePolicy): void {
  if (expiresAt === null) {
    if (p.requireExpiry || p.maxTtlSeconds !== null) {
      throw new DomainError('EXPIRY_REQUIRED', 'the workspace policy requires keys to expire', { attr: 'expiresAt' });
    }
    return;
  }
  const ttl = (expiresAt.getTime() - now.getTime()) / 1000;
  if (!(ttl > 0)) throw new DomainError('EXPIRY_IN_PAST', 'expiresAt must be in the future', { attr: 'expiresAt' });
  if (ttl > MAX_TTL_SECONDS)
    throw new DomainError('EXPIRY_TOO_FAR', 'expiresAt is more than 100 years away', { attr: 'expiresAt' });
  if (p.maxTtlSeconds !== null && ttl > p.maxTtlSeconds) {
    throw new DomainError('EXPIRY_BEYOND_POLICY', `the workspace allows at most ${p.maxTtlSeconds}s of lifetime`, {
      attr: 'expiresAt',
      maxTtlSeconds: p.maxTtlSeconds,
    });
  }
}

/** The instant a live key stops working: its own expiry or the end of its rotation grace, whichever is first. */
export function endOfLife(state: ApiKeyState): number | null {
  return state.exists ? keyEndOfLife(state.expiresAt, state.graceEndsAt) : null;
}

function create(cmd: Extract<ApiKeyCommand, { type: 'CreateApiKey' }>, state: ApiKeyState): ApiKeyEvent[] {
  if (state.exists) throw new DomainError('KEY_EXISTS', `key ${cmd.keyId} already exists`);
  if (cmd.ownerRole === null)
    throw new DomainError('NOT_A_MEMBER', 'the owner is not a member of this workspace', { attr: 'workspaceId' });
  const expiresAt = cmd.expiresAt === null ? null : requireInstant(cmd.expiresAt, 'expiresAt');
  checkCreationPolicy(cmd.now, expiresAt, cmd.policy);
  if (typeof cmd.digest !== 'string' || !DIGEST_RE.test(cmd.digest))
    throw new TypeError('digest must be 64 lower-case hex characters');
  return [
    {
      type: 'ApiKeyCreated',
      data: {
        keyId: cmd.keyId,
        userId: cmd.userId,
        workspaceId: cmd.workspaceId,
        name: requireText(cmd.name, 'name'),
        description: requireOptionalText(cmd.description, 'description', DESCRIPTION_MAX),
        handle: requireHandle(cmd.handle),
        alias: requireOptionalText(cmd.alias, 'alias', NAME_MAX),
        scopes: requireScopes(cmd.scopes, cmd.ownerRole),
        format: requireOneOf(cmd.format, KEY_FORMATS, 'format', 'INVALID_FORMAT'),
        digest: cmd.digest,
        start: cmd.start,
        expiresAt: expiresAt === null ? null : expiresAt.toISOString(),
        sealed: cmd.sealed,
        rotatedFrom: cmd.rotatedFrom,
      },
    },
  ];
}

function update(cmd: Extract<ApiKeyCommand, { type: 'UpdateApiKey' }>, state: ApiKeyState): ApiKeyEvent[] {
  if (cmd.expiresAt !== undefined) {
    throw new DomainError('EXPIRY_IMMUTABLE', 'expiry can be set only when a key is created', {
      attr: 'expiresAt',
    });
  }
  requireLive(state, 'update', cmd.now);
  const data: { keyId: string; name?: string; description?: string | null; alias?: string | null } = {
    keyId: state.keyId,
  };
  if (cmd.name !== undefined && cmd.name !== state.name) data.name = requireText(cmd.name, 'name');
  if (cmd.description !== undefined && cmd.description !== state.description)
    data.description = requireOptionalText(cmd.description, 'description', DESCRIPTION_MAX);
  if (cmd.alias !== undefined && cmd.alias !== state.alias)
    data.alias = requireOptionalText(cmd.alias, 'alias', NAME_MAX);
  return Object.keys(data).length > 1 ? [{ type: 'ApiKeyUpdated', data }] : [];
}

function rotate(cmd: Extract<ApiKeyCommand, { type: 'RotateApiKey' }>, state: ApiKeyState): ApiKeyEvent[] {
  requireLive(state, 'rotate', cmd.now);
  if (state.successorId !== null)
    throw new DomainError('KEY_ALREADY_ROTATED', 'the key was already rotated', { successorId: state.successorId });
  const grace = cmd.graceSeconds ?? 0;
  if (!(grace >= 0) || !Number.isFinite(grace))
    throw new DomainError('INVALID_GRACE', 'gracePeriod must be ≥ 0', { attr: 'gracePeriod' });
  if (grace > cmd.maxGraceSeconds) {
    throw new DomainError('GRACE_TOO_LONG', `gracePeriod may be at most ${cmd.maxGraceSeconds}s`, {
      attr: 'gracePeriod',
      maxGraceSeconds: cmd.maxGraceSeconds,
    });
  }
  const graceEnds = cmd.now.getTime() + grace * 1000;
  const events: ApiKeyEvent[] = [
    {
      type: 'ApiKeyRotated',
      data: { keyId: state.keyId, successorId: cmd.successorId, graceEndsAt: new Date(graceEnds).toISOString() },
    },
  ];
  if (grace === 0) {
    events.push({
      type: 'ApiKeyExpired',
      data: { keyId: state.keyId, expiredAt: cmd.now.toISOString(), reason: 'rotated' },
    });
  }
  return events;
}

function expire(cmd: Extract<ApiKeyCommand, { type: 'ExpireApiKey' }>, state: ApiKeyState): ApiKeyEvent[] {
  if (!state.exists) throw new DomainError('KEY_NOT_FOUND', 'cannot expire an unknown key');
  if (state.status !== 'active') return []; // already settled: expiry is written once
  const eol = endOfLife(state);
  if (eol === null || keyLifePhase(state.status, state.expiresAt, state.graceEndsAt, cmd.now.getTime()) !== 'expired')
    return [];
  const rotated = state.graceEndsAt !== null && state.graceEndsAt === eol;
  return [
    {
      type: 'ApiKeyExpired',
      data: { keyId: state.keyId, expiredAt: new Date(eol).toISOString(), reason: rotated ? 'rotated' : 'ttl' },
    },
  ];
}

function decide(cmd: ApiKeyCommand, state: ApiKeyState): ApiKeyEvent[] {
  switch (cmd.type) {
    case 'CreateApiKey':
      return create(cmd, state);
    case 'RecordApiKeyUse': {
      if (!state.exists) throw new DomainError('KEY_NOT_FOUND', 'cannot record use of an unknown key');
      if (!(cmd.count >= 1)) throw new TypeError('use count must be at least 1');
      return [
        {
          type: 'ApiKeyUsed',
          data: {
            keyId: state.keyId,
            count: cmd.count,
            firstAt: cmd.firstAt.toISOString(),
            lastAt: cmd.lastAt.toISOString(),
            lastIp: cmd.lastIp,
            lastUserAgent: cmd.lastUserAgent,
            presentation: cmd.presentation,
            presentations: { ...cmd.presentations },
          },
        },
      ];
    }
    case 'UpdateApiKey':
      return update(cmd, state);
    case 'RevealApiKeySecret': {
      requireLive(state, 'reveal the secret', cmd.now);
      if (!state.retrievable) throw new DomainError('KEY_NOT_RETRIEVABLE', 'this key was not created as retrievable');
      return [{ type: 'ApiKeySecretRevealed', data: { keyId: state.keyId } }];
    }
    case 'RotateApiKey':
      return rotate(cmd, state);
    case 'ExpireApiKey':
      return expire(cmd, state);
    case 'RevokeApiKey': {
      if (!state.exists) throw new DomainError('KEY_NOT_FOUND', 'cannot revoke an unknown key');
      if (state.status === 'revoked') return []; // revocation is permanent and idempotent
      const reason = requireOptionalText(cmd.reason, 'reason', REASON_MAX);
      return [{ type: 'ApiKeyRevoked', data: { keyId: state.keyId, reason, revokedBy: cmd.by } }];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(state: ApiKeyState, event: ApiKeyEvent): ApiKeyState {
  switch (event.type) {
    case 'ApiKeyCreated': {
      const d = event.data;
      return {
        exists: true,
        keyId: d.keyId,
        userId: d.userId,
        workspaceId: d.workspaceId,
        status: 'active',
        expiresAt: d.expiresAt === null ? null : Date.parse(d.expiresAt),
        retrievable: d.sealed !== null,
        successorId: null,
        graceEndsAt: null,
        name: d.name,
        description: d.description,
        alias: d.alias,
      };
    }
    case 'ApiKeyUpdated': {
      if (!state.exists) return state;
      const d = event.data;
      return {
        ...state,
        name: d.name ?? state.name,
        description: d.description === undefined ? state.description : d.description,
        alias: d.alias === undefined ? state.alias : d.alias,
      };
    }
    case 'ApiKeyRotated':
      return state.exists
        ? { ...state, successorId: event.data.successorId, graceEndsAt: Date.parse(event.data.graceEndsAt) }
        : state;
    case 'ApiKeyExpired':
      return state.exists && state.status === 'active' ? { ...state, status: 'expired' } : state;
    case 'ApiKeyRevoked':
      return state.exists ? { ...state, status: 'revoked' } : state;
    case 'ApiKeyUsed':
    case 'ApiKeySecretRevealed':
      return state;
    default:
      return assertNever(event);
  }
}

export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyState, ApiKeyEvent> = {
  initialState: () => ({ exists: false }),
  decide,
  evolve,
};
