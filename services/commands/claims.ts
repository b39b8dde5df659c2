// Uniqueness claims (e-mails, per-user key handles): one stream per value, so optimistic concurrency picks one winner
// across every process sharing the store. Claims are written by the ledger itself, within the caller's correlation.
import { createHash } from 'node:crypto';
import { streams } from '../../events/catalog.js';
import { DomainError, type DomainErrorCode } from '../domain/errors.js';
import { SYSTEM_ACTOR } from '../../events/metadata.js';
import { uniqueValueDecider } from '../domain/unique-value.js';
import type { CommandBus, CommandContext } from './command-bus.js';

export interface Claim {
  readonly scope: string;
  readonly digest: string;
  readonly value: string;
}

/** A fresh claim whose owner is not in the read model yet is a creation in progress, not a stale one. */
const CLAIM_IN_PROGRESS_MS = 60_000;

export const emailClaim = (email: string): Claim => ({
  scope: 'email',
  digest: createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 32),
  value: email,
});

export const handleClaim = (userId: string, handle: string): Claim => ({
  scope: 'handle',
  digest: createHash('sha256').update(`${userId}\n${handle}`).digest('hex').slice(0, 32),
  value: handle,
});

/** The digest that names an e-mail's stream of failed logins (unknown e-mails have no user stream). */
export const emailDigest = (email: string): string => emailClaim(email).digest;

const asLedger = (c: CommandContext): CommandContext => ({ ...c, actor: SYSTEM_ACTOR });

export class Claims {
  constructor(
    private readonly bus: CommandBus,
    private readonly log: (msg: string, err?: unknown) => void,
  ) {}

  /** Claims the value for `ownerId`; `alive` answers undefined when the holder is not in the read model (yet). */
  async claim(
    claim: Claim,
    ownerId: string,
    alive: (holder: string) => boolean | undefined,
    takenCode: DomainErrorCode,
    c: CommandContext,
  ): Promise<void> {
    const { scope, value } = claim;
    try {
      await this.bus.execute(
        uniqueValueDecider,
        streams.unique(scope, claim.digest),
        (s, now) => ({
          type: 'ClaimValue' as const,
          now,
          scope,
          value,
          ownerId,
          holderAlive: s.holder !== null && (alive(s.holder) ?? now.getTime() - s.claimedAt < CLAIM_IN_PROGRESS_MS),
        }),
        asLedger(c),
        { waitForReadModel: false },
      );
    } catch (err) {
      if (err instanceof DomainError && err.code === 'VALUE_TAKEN')
        throw new DomainError(takenCode, `${scope} is already taken`, { attr: scope });
      throw err;
    }
  }

  /**
   * Undoes the claim of an owner that was never created, so the value is free at once (not after the in-progress
   * window). With `restoreTo`, the value goes back to that holder instead (a rotation's predecessor). Best effort:
   * a failure is logged, and the claim then lapses as a stale one.
   */
  async release(claim: Claim, ownerId: string, restoreTo: string | null, c: CommandContext): Promise<void> {
    try {
      await this.bus.execute(
        uniqueValueDecider,
        streams.unique(claim.scope, claim.digest),
        (s, now) =>
          restoreTo === null
            ? { type: 'ReleaseValue' as const, ownerId }
            : {
                type: 'ClaimValue' as const,
                now,
                scope: claim.scope,
                value: claim.value,
                ownerId: restoreTo,
                holderAlive: s.holder !== ownerId,
              },
        asLedger(c),
        { waitForReadModel: false },
      );
    } catch (err) {
      this.log(`releasing the ${claim.scope} claim of ${ownerId} failed`, err);
    }
  }
}
