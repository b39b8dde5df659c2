// Stable, coded errors; tests assert `code`, never the message. The store raises only the four below; every other
// code the ledger raises is in services/domain/errors.ts (ErrorCode), which the store must not import.
export type ErrorFields = Record<string, unknown>;

/** The codes the store layer raises. */
export type StoreErrorCode = 'CONCURRENCY' | 'STORE_UNAVAILABLE' | 'IDEMPOTENCY_CONFLICT' | 'INVALID_POSITION';

/** The base of every coded error; only a subclass names codes, so each code belongs to a closed union. */
export abstract class LedgerError<C extends string = string> extends Error {
  readonly code: C;
  readonly retriable: boolean;
  readonly fields: ErrorFields;

  protected constructor(
    code: C,
    message: string,
    opts: { cause?: unknown; retriable?: boolean; fields?: ErrorFields } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.fields = opts.fields ?? {};
  }
}

/** Expected revision did not hold: someone else wrote the stream first. */
export class ConcurrencyError extends LedgerError<'CONCURRENCY'> {
  constructor(streamId: string, expected: string, actual: string, cause?: unknown) {
    super('CONCURRENCY', `stream ${streamId}: expected revision ${expected}, actual ${actual}`, {
      cause,
      retriable: true,
      fields: { streamId, expected, actual },
    });
  }
}

/** The backing store could not be reached or failed; `retriable` says whether trying again may help. */
export class StoreUnavailableError extends LedgerError<'STORE_UNAVAILABLE'> {
  constructor(message: string, cause: unknown, retriable = true) {
    super('STORE_UNAVAILABLE', message, { cause, retriable });
  }
}

/** An append re-used event ids that already belong to different events. */
export class IdempotencyError extends LedgerError<'IDEMPOTENCY_CONFLICT'> {
  constructor(streamId: string, eventId: string) {
    super('IDEMPOTENCY_CONFLICT', `event ${eventId} already written with different content or stream (${streamId})`, {
      fields: { streamId, eventId },
    });
  }
}

/** A read position the store never handed out (inside a record, beyond the log): the caller's mistake, never retried. */
export class InvalidPositionError extends LedgerError<'INVALID_POSITION'> {
  constructor(position: number, reason: string, cause?: unknown) {
    super('INVALID_POSITION', `position ${position} ${reason}`, { cause, retriable: false, fields: { position } });
  }
}
