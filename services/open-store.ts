// Opens the configured event store: the adapter a configuration names, on its own (worker threads open one too).
import { join } from 'node:path';
import { LedgerError, StoreUnavailableError } from '../events/errors.js';
import type { EventStore } from '../events/store/types.js';
import { SqliteEventStore } from '../events/store/sqlite.js';
import { redactUrl, type Config } from './config.js';

export function ledgerFile(config: Pick<Config, 'dataDir'>): string {
  return join(config.dataDir, 'ledger.db');
}

/** Opens the configured store; any failure (a read-only or foreign file, a folder we may not enter) is a coded STORE_UNAVAILABLE. */
export async function openStore(
  config: Pick<Config, 'dataDir' | 'eventStoreUrl' | 'databaseUrl'>,
  opts: { readonly readOnly?: boolean } = {},
): Promise<EventStore> {
  const where = config.eventStoreUrl
    ? 'EventStoreDB'
    : config.databaseUrl
      ? redactUrl(config.databaseUrl)
      : ledgerFile(config);
  try {
    if (config.databaseUrl) {
      const { PostgresEventStore } = await import('../events/store/postgres.js');
      // A reader never migrates: that takes the append lock, which a niced process must not hold.
      return await PostgresEventStore.open(config.databaseUrl, { migrate: opts.readOnly !== true });
    }
    if (config.eventStoreUrl) {
      const { createEsdbStore } = await import('../events/store/esdb.js');
      return createEsdbStore(config.eventStoreUrl);
    }
    // A reader of a SQLite log starts no writer thread, and never creates the file.
    return new SqliteEventStore(ledgerFile(config), { readOnly: opts.readOnly === true });
  } catch (err) {
    // Already translated by its adapter: the same error, named for the ledger it could not open.
    if (err instanceof StoreUnavailableError)
      throw new StoreUnavailableError(`cannot open the ledger (${where}): ${err.message}`, err, err.retriable);
    if (err instanceof LedgerError) throw err;
    throw new StoreUnavailableError(`cannot open the ledger (${where}): ${(err as Error).message}`, err, false);
  }
}
