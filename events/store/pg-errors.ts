// node-postgres errors as the ledger's coded error, saying whether trying again may help. One place for every
// PostgreSQL adapter (event store, audit store, publisher checkpoint), so none of them classifies a lost connection
// differently from the others.
import { LedgerError, StoreUnavailableError } from '../errors.js';

/** SQLSTATE classes after which trying again may help: connection, resources, operator intervention, contention. */
const RETRIABLE_STATES = /^(08|53|57P0|40001|40P01|55P03)/;
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
/** The driver's own messages, without a code, for a connection that is gone (a client used after its connection broke). */
const CONNECTION_LOST = /Connection terminated|connection.*(?:closed|ended)|connection error and is not queryable/i;

export function pgRetriable(err: unknown): boolean {
  const raw = (err as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' ? raw : '';
  const message = err instanceof Error ? err.message : String(err);
  return RETRIABLE_STATES.test(code) || NETWORK.has(code) || CONNECTION_LOST.test(message);
}

/** `postgres <what> failed: <message>`, retriable as `pgRetriable` says; a LedgerError passes through as it is. */
export function pgError(err: unknown, what: string): LedgerError {
  if (err instanceof LedgerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`postgres ${what} failed: ${message}`, err, pgRetriable(err));
}
