// What every audit module gets: the ledger, its signing key and the audit store with its projection.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { SigningKey } from '../crypto/key-material.js';
import type { Metrics } from '../metrics/registry.js';
import type { Ledger } from '../ledger.js';
import type { AuditProjection } from '../../projections/audit/projection.js';
import type { AuditStore } from '../../projections/audit/store.js';

export interface AuditContext {
  readonly ledger: Ledger;
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly signingKey: SigningKey;
  /** audit.db, or the shared PostgreSQL tables. */
  readonly store: AuditStore;
  readonly projection: AuditProjection;
}
