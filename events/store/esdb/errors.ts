// What the EventStoreDB client throws, translated into our coded errors; no client error leaves the adapter.
import {
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  convertToCommandError,
} from '@eventstore/db-client';
import { ConcurrencyError, LedgerError, StoreUnavailableError } from '../../errors.js';

/** Node socket errors that mean "could not reach the server / connection dropped". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
// gRPC status codes: 1 CANCELLED, 4 DEADLINE_EXCEEDED, 10 ABORTED, 14 UNAVAILABLE.
const RETRIABLE_GRPC_CODES = new Set([1, 4, 10, 14]);
/** gRPC INVALID_ARGUMENT: how the server answers a read from an invalid position ("Trying to read from an invalid position."). */
const INVALID_ARGUMENT = 3;

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function revisionText(v: unknown): string {
  return typeof v === 'bigint' ? v.toString(10) : String(v);
}

/**
 * Translates anything the EventStoreDB client throws into our coded errors.
 * WrongExpectedVersion -> ConcurrencyError; unreachable/timeouts/leader changes -> StoreUnavailableError(retriable);
 * everything else -> StoreUnavailableError(non-retriable) carrying the original as `cause`.
 */
export function translateEsdbError(err: unknown, what: string): LedgerError {
  if (err instanceof LedgerError) return err;
  // Raw gRPC ServiceErrors (e.g. from the client's feature probe) become typed client errors first.
  const e = err instanceof Error ? convertToCommandError(err) : err;
  if (e instanceof WrongExpectedVersionError) {
    return new ConcurrencyError(e.streamName, revisionText(e.expectedVersion), revisionText(e.actualVersion), err);
  }
  if (
    e instanceof UnavailableError ||
    e instanceof DeadlineExceededError ||
    e instanceof TimeoutError ||
    e instanceof CancelledError ||
    e instanceof NotLeaderError
  ) {
    return new StoreUnavailableError(`eventstoredb ${what} failed: ${messageOf(e)}`, err, true);
  }
  const code = (e as { code?: unknown } | null)?.code;
  const isNetwork =
    (typeof code === 'string' && NETWORK_CODES.has(code)) ||
    (typeof code === 'number' && RETRIABLE_GRPC_CODES.has(code)) ||
    (e instanceof Error && /^Failed to discover after \d+ attempts/.test(e.message));
  return new StoreUnavailableError(`eventstoredb ${what} failed: ${messageOf(e)}`, err, isNetwork);
}

/** The server refused the read's position as invalid (it points inside a record). */
export function isInvalidPosition(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === INVALID_ARGUMENT && /position/i.test(messageOf(err));
}
