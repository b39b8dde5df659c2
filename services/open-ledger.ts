// Wires a Ledger from configuration: picks the store adapter, loads key material.
import { join } from 'node:path';
import type { EventStore } from '../events/store/types.js';
import { SqliteEventStore } from '../events/store/sqlite.js';
import type { Config } from './config.js';
import { JwtService } from './crypto/jwt.js';
import { loadMasterKey, loadSigningKey, type SigningKey } from './crypto/key-material.js';
import { Sealer } from './crypto/sealing.js';
import { Ledger, type LedgerOptions } from './ledger.js';

export async function openStore(config: Pick<Config, 'dataDir' | 'eventStoreUrl'>): Promise<EventStore> {
  if (config.eventStoreUrl) {
    const { createEsdbStore } = await import('../events/store/esdb.js');
    return createEsdbStore(config.eventStoreUrl);
  }
  return new SqliteEventStore(join(config.dataDir, 'ledger.db'));
}

export interface OpenedLedger {
  ledger: Ledger;
  signingKey: SigningKey;
}

export async function openLedger(config: Config, overrides: Partial<LedgerOptions> = {}): Promise<OpenedLedger> {
  const store = overrides.store ?? (await openStore(config));
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
}
