// Stable, coded errors shared by every layer; tests assert `code`, never the message.
export type ErrorFields = Record<string, unknown>;

export class LedgerError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly fields: ErrorFields;

  constructor(code: string, message: string, opts: { cause?: unknown; retriable?: boolean; fields?: ErrorFields } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.fields = opts.fields ?? {};
  }
}

/** Expected revision did not hold: someone else wrote the stream first. */
export class ConcurrencyError extends LedgerError {
  constructor(streamId: string, expected: string, actual: string, cause?: unknown) {
    super('CONCURRENCY', `stream ${streamId}: expected revision ${expected}, actual ${actual}`, {
      cause,
      retriable: true,
      fields: { streamId, expected, actual },
    });
  }
}

/** The backing store could not be reached or failed; `retriable` says whether trying again may help. */
export class StoreUnavailableError extends LedgerError {
  constructor(message: string, cause: unknown, retriable = true) {
    super('STORE_UNAVAILABLE', message, { cause, retriable });
  }
}

/** An append re-used event ids that already belong to different events. */
export class IdempotencyError extends LedgerError {
  constructor(streamId: string, eventId: string) {
    super('IDEMPOTENCY_CONFLICT', `event ${eventId} already written with different content or stream (${streamId})`, {
      fields: { streamId, eventId },
    });
  }
}

/** A domain rule refused a command. */
export class DomainError extends LedgerError {
  constructor(code: string, message: string, fields: ErrorFields = {}) {
    super(code, message, { fields });
  }
}

export class NotFoundError extends LedgerError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} ${id} not found`, { fields: { what, id } });
  }
}

export class ValidationError extends LedgerError {
  constructor(attr: string | null, message: string, code = 'invalid') {
    super(code, message, { fields: { attr } });
  }
}
