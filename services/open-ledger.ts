// Wires a Ledger from configuration: opens the store (open-store.ts), loads key material.
import { existsSync } from 'node:fs';
import type { Config } from './config.js';
import { ledgerFile, openStore } from './open-store.js';
import { JwtService } from './crypto/jwt.js';
import { loadMasterKey, loadSigningKey, type SigningKey } from './crypto/key-material.js';
import { Sealer } from './crypto/sealing.js';
import { sharedSigningKey } from './crypto/shared-keys.js';
import { randomIds } from './ids.js';
import { Ledger, type LedgerOptions } from './ledger.js';

export { ledgerFile, openStore };

/** Whether the configured store already holds a ledger (a shared store: assumed; nothing here can tell without connecting). */
export function ledgerExists(config: Pick<Config, 'dataDir' | 'eventStoreUrl' | 'databaseUrl'>): boolean {
  return config.eventStoreUrl !== null || config.databaseUrl !== null || existsSync(ledgerFile(config));
}

/** Several instances share the store (PostgreSQL, EventStoreDB); SQLite is one process's own. */
export function isSharedStore(config: Pick<Config, 'eventStoreUrl' | 'databaseUrl'>): boolean {
  return config.eventStoreUrl !== null || config.databaseUrl !== null;
}

export interface OpenedLedger {
  ledger: Ledger;
  signingKey: SigningKey;
}

export async function openLedger(config: Config, overrides: Partial<LedgerOptions> = {}): Promise<OpenedLedger> {
  const store = overrides.store ?? (await openStore(config));
  try {
    const sealer = new Sealer(loadMasterKey(config.dataDir, config.masterKey ?? undefined));
    // Instances sharing a store share one signing key, stored once in the ledger; a lone SQLite ledger keeps its own file.
    const signingKey = isSharedStore(config)
      ? await sharedSigningKey(store, sealer, config.signingKeyPem, overrides.ids ?? randomIds)
      : await loadSigningKey(config.dataDir, config.signingKeyPem ?? undefined);
    const ledger = new Ledger({
      store,
      sealer,
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
