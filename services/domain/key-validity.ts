// Whether a key works at an instant, decided once: the read model's verify, the key decider, the point-in-time view,
// the key JSON and (by a test that compares them) the audit timeline's SQL all follow this rule.

/** A key's own lifecycle as recorded: `expired` once ApiKeyExpired is written, `revoked` once ApiKeyRevoked is. */
export type KeyLifecycle = 'active' | 'expired' | 'revoked';

/** What the key itself was doing at an instant: `rotation_grace` is a rotated key still working until its grace ends. */
export type KeyLifePhase = 'active' | 'rotation_grace' | 'expired' | 'revoked';

/** What the key was doing at an instant, all things considered; only `active` and `rotation_grace` verify. */
export type KeyPhase = KeyLifePhase | 'owner_inactive' | 'not_a_member';

/** The instant a key stops working: its expiry or the end of its rotation grace, whichever is first (null: never). */
export function endOfLife(expiresAt: number | null, graceEndsAt: number | null): number | null {
  if (expiresAt === null || expiresAt === Infinity) return graceEndsAt;
  if (graceEndsAt === null) return expiresAt;
  return expiresAt < graceEndsAt ? expiresAt : graceEndsAt;
}

/**
 * The key's own phase at `at`, before its owner is considered. Positional arguments keep the verify path free of
 * allocations. `expiresAt` null or Infinity: never expires; `graceEndsAt` non-null: the key was rotated.
 * A key is expired from its end of life on, even before ApiKeyExpired is written.
 */
export function keyLifePhase(
  status: KeyLifecycle,
  expiresAt: number | null,
  graceEndsAt: number | null,
  at: number,
): KeyLifePhase {
  if (status === 'revoked') return 'revoked';
  if (status === 'expired') return 'expired';
  if (expiresAt !== null && at >= expiresAt) return 'expired';
  if (graceEndsAt === null) return 'active';
  return at >= graceEndsAt ? 'expired' : 'rotation_grace';
}

/**
 * The phase at `at`, all things considered: the key's own phase first (a revoked or expired key stays so), then its
 * owner's account (`ownerActive`), then the owner's membership of the key's workspace (`role` null: not a member).
 */
export function keyPhase(
  status: KeyLifecycle,
  expiresAt: number | null,
  graceEndsAt: number | null,
  ownerActive: boolean,
  role: string | null,
  at: number,
): KeyPhase {
  const own = keyLifePhase(status, expiresAt, graceEndsAt, at);
  if (own === 'revoked' || own === 'expired') return own;
  if (!ownerActive) return 'owner_inactive';
  if (role === null) return 'not_a_member';
  return own;
}

/** Whether a key in this phase verifies. */
export function isLive(phase: KeyPhase): phase is 'active' | 'rotation_grace' {
  return phase === 'active' || phase === 'rotation_grace';
}
