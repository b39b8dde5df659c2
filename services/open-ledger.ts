// Wires a Ledger from configuration: picks the store adapter, loads key material.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LedgerError, StoreUnavailableError } from '../events/errors.js';
import type { EventStore } from '../events/store/types.js';
import { SqliteEventStore } from '../events/store/sqlite.js';
import type { Config } from './config.js';
import { JwtService } from './crypto/jwt.js';
import { loadMasterKey, loadSigningKey, type SigningKey } from './crypto/key-material.js';
import { Sealer } from './crypto/sealing.js';
import { Ledger, type LedgerOptions } from './ledger.js';

export function ledgerFile(config: Pick<Config, 'dataDir'>): string {
  return join(config.dataDir, 'ledger.db');
}

/** Whether the configured store already holds a ledger (EventStoreDB: assumed; nothing here can tell without connecting). */
export function ledgerExists(config: Pick<Config, 'dataDir' | 'eventStoreUrl'>): boolean {
  return config.eventStoreUrl !== null || existsSync(ledgerFile(config));
}

/** Opens the configured store; any failure (a read-only or foreign file, a folder we may not enter) is a coded STORE_UNAVAILABLE. */
export async function openStore(config: Pick<Config, 'dataDir' | 'eventStoreUrl'>): Promise<EventStore> {
  const where = config.eventStoreUrl ? 'EventStoreDB' : ledgerFile(config);
  try {
    if (config.eventStoreUrl) {
      const { createEsdbStore } = await import('../events/store/esdb.js');
      return createEsdbStore(config.eventStoreUrl);
    }
    return new SqliteEventStore(ledgerFile(config));
  } catch (err) {
    if (err instanceof LedgerError) throw err;
    throw new StoreUnavailableError(`cannot open the ledger (${where}): ${(err as Error).message}`, err, false);
  }
}

export interface OpenedLedger {
  ledger: Ledger;
  signingKey: SigningKey;
}

export async function openLedger(config: Config, overrides: Partial<LedgerOptions> = {}): Promise<OpenedLedger> {
  const store = overrides.store ?? (await openStore(config));
  try {
    const signingKey = await loadSigningKey(config.dataDir, config.signingKeyPem ?? undefined);
    const ledger = new Ledger({
      store,
      sealer: new Sealer(loadMasterKey(config.dataDir, config.masterKey ?? undefined)),
      jwt: new JwtService(signingKey, { issuer: config.jwtIssuer, audience: config.jwtAudience }),
      tokenPrefix: config.tokenPrefix,
      usageFlushMs: config.usageFlushMs,
      maxGraceSeconds: config.maxGraceSeconds,
      ...overrides,
    });
    return { ledger, signingKey };
  } catch (err) {
    // A store we opened is not left open behind a failed start (a store passed in belongs to the caller).
    if (overrides.store === undefined) await store.close().catch(() => undefined);
    throw err;
  }
}
