// Read positions every adapter checks the same way before it looks anything up.
import { InvalidPositionError } from '../errors.js';
import { START } from './types.js';

/** START or a non-negative safe integer; anything else cannot be a position on any backend (INVALID_POSITION). */
export function assertReadPosition(position: number): void {
  if (!Number.isSafeInteger(position) || position < START)
    throw new InvalidPositionError(position, 'is not a position (START or a whole number)');
}

/** Nothing at or after `position` although it is not START: it is beyond every position the store handed out. */
export function beyondTheLog(position: number): InvalidPositionError {
  return new InvalidPositionError(position, 'is beyond the newest position in the store');
}
