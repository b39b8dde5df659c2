// Both audit stores for tests that run the same checks on each: audit.db in a temp folder, and the PostgreSQL tables
// in a database of the test's own (created here, dropped by dispose).
import { join } from 'node:path';
import { PostgresAuditStore, type PostgresAuditOptions } from '../../projections/audit/postgres-store.js';
import { SqliteAuditStore } from '../../projections/audit/sqlite-store.js';
import type { AuditStore } from '../../projections/audit/store.js';
import { auditExtensions } from '../../projections/audit/timeline.js';
import { freshDatabase } from './postgres.js';
import { tempDir } from './tmp.js';

export type AuditBackendName = 'sqlite' | 'postgres';

export interface OpenedAuditStore<S extends AuditStore = AuditStore> {
  readonly store: S;
  dispose(): Promise<void>;
}

export async function sqliteAuditStore(): Promise<OpenedAuditStore<SqliteAuditStore>> {
  const dir = tempDir('audit-store');
  const store = SqliteAuditStore.open(join(dir.path, 'audit.db'), auditExtensions);
  return {
    store,
    dispose: async () => {
      await store.close();
      dir.cleanup();
    },
  };
}

export async function postgresAuditStore(
  opts: PostgresAuditOptions = {},
): Promise<OpenedAuditStore<PostgresAuditStore> & { url: string }> {
  const db = await freshDatabase('audit');
  const store = await PostgresAuditStore.open(db.url, opts);
  return {
    store,
    url: db.url,
    dispose: async () => {
      await store.close();
      await db.drop();
    },
  };
}

export const AUDIT_BACKENDS: ReadonlyArray<{
  readonly name: AuditBackendName;
  open(opts?: PostgresAuditOptions): Promise<OpenedAuditStore>;
}> = [
  { name: 'sqlite', open: () => sqliteAuditStore() },
  { name: 'postgres', open: (opts) => postgresAuditStore(opts) },
];

/** A server's environment for each backend: nothing more for SQLite; a fresh database and a master key for PostgreSQL. */
export async function auditServerEnv(
  name: AuditBackendName,
): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  if (name === 'sqlite') return { env: {}, drop: () => Promise.resolve() };
  const db = await freshDatabase('auditsrv');
  return {
    env: { LEDGER_DATABASE_URL: db.url, LEDGER_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') },
    drop: () => db.drop(),
  };
}
