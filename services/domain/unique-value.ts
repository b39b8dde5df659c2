// Uniqueness guard (e-mails, per-user key handles): one stream per value, so optimistic concurrency picks one winner.
import type { UniqueEvent } from '../../events/catalog.js';
import { DomainError } from './errors.js';
import { assertNever, type Decider } from './decider.js';

export type UniqueCommand =
  /** `holderAlive` says whether the current holder still exists (a claim whose owner was never created is stale). */
  | { type: 'ClaimValue'; now: Date; scope: string; value: string; ownerId: string; holderAlive: boolean }
  | { type: 'ReleaseValue'; ownerId: string };

export type UniqueState = {
  readonly holder: string | null;
  readonly scope: string;
  readonly value: string;
  readonly claimedAt: number;
};

function decide(cmd: UniqueCommand, state: UniqueState): UniqueEvent[] {
  switch (cmd.type) {
    case 'ClaimValue':
      if (state.holder === cmd.ownerId) return [];
      if (state.holder !== null && cmd.holderAlive) {
        throw new DomainError('VALUE_TAKEN', `${cmd.scope} is already taken`, { scope: cmd.scope });
      }
      return [
        {
          type: 'UniqueValueClaimed',
          data: { scope: cmd.scope, value: cmd.value, ownerId: cmd.ownerId, claimedAt: cmd.now.toISOString() },
        },
      ];
    case 'ReleaseValue':
      if (state.holder !== cmd.ownerId) return [];
      return [{ type: 'UniqueValueReleased', data: { scope: state.scope, value: state.value, ownerId: cmd.ownerId } }];
    default:
      return assertNever(cmd);
  }
}

function evolve(state: UniqueState, event: UniqueEvent): UniqueState {
  switch (event.type) {
    case 'UniqueValueClaimed':
      return {
        holder: event.data.ownerId,
        scope: event.data.scope,
        value: event.data.value,
        claimedAt: Date.parse(event.data.claimedAt),
      };
    case 'UniqueValueReleased':
      return state.holder === event.data.ownerId ? { ...state, holder: null } : state;
    default:
      return assertNever(event);
  }
}

export const uniqueValueDecider: Decider<UniqueCommand, UniqueState, UniqueEvent> = {
  initialState: () => ({ holder: null, scope: '', value: '', claimedAt: 0 }),
  decide,
  evolve,
};
