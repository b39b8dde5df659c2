// The audit plugin: the audit projection (audit.db, or tables in the shared PostgreSQL database), the query, history
// and point-in-time routes, exports, and signed chain checkpoints.
import { join } from 'node:path';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import type { EventStore } from '../../events/store/types.js';
import type { Config } from '../config.js';
import type { PluginFactory, PluginModule, Progress } from '../server.js';
import { Checkpointer } from '../workers/checkpointer.js';
import type { AuditContext } from './context.js';
import { auditExportRoutes } from './export-routes.js';
import { AuditProjection, rebuildAudit } from '../../projections/audit/projection.js';
import { SqliteAuditStore } from '../../projections/audit/sqlite-store.js';
import type { AuditStore } from '../../projections/audit/store.js';
import { auditQueryRoutes } from './query-routes.js';
import { auditExtensions } from '../../projections/audit/timeline.js';
import { AuditLag } from './readiness.js';

/** The leases of the audit plugin's singletons (on SQLite granted at once: one process owns the folder). */
export const AUDIT_WRITER_LEASE = 'audit-writer';
export const CHECKPOINTER_LEASE = 'checkpointer';

export function auditDbFile(dataDir: string): string {
  return join(dataDir, 'audit.db');
}

/** Where the audit read model lives: the ledger's PostgreSQL database when it has one, else audit.db in the data folder. */
export async function openAuditStore(
  config: Pick<Config, 'dataDir' | 'databaseUrl'>,
  log?: EventStore,
): Promise<AuditStore> {
  if (config.databaseUrl !== null) {
    // The lease holder writes it from a writer process at the lowest CPU priority, on its own connections.
    const { PostgresAuditStore } = await import('../../projections/audit/postgres-store.js');
    return PostgresAuditStore.open(config.databaseUrl, { followsLedger: config.databaseUrl });
  }
  // Next to a SQLite log, a writer process at the lowest CPU priority writes audit.db from the log file (sqlite-follower.ts).
  const sqliteLog = log instanceof SqliteEventStore ? log : undefined;
  return SqliteAuditStore.open(auditDbFile(config.dataDir), auditExtensions, sqliteLog);
}

export function auditPlugin(): PluginFactory {
  return async ({ ledger, config, logger, metrics, signingKey, singleton }) => {
    const log = logger.child({ component: 'audit' });
    const store = await openAuditStore(config, ledger.store);
    const projection = new AuditProjection(store, ledger.store, (msg, err) => log.error({ err }, msg));
    const ctx: AuditContext = { ledger, config, logger: log, metrics, signingKey, store, projection };
    const checkpointer = new Checkpointer(ctx);
    // A shared store has one writer, the lease holder; a store of this instance's own (audit.db) is written here.
    const writer = store.shared
      ? singleton(AUDIT_WRITER_LEASE, { start: () => projection.start(), stop: () => projection.stop() })
      : null;
    singleton(CHECKPOINTER_LEASE, { start: () => checkpointer.start(), stop: () => checkpointer.stop() });
    const lag = new AuditLag(ledger, projection, config.readyMaxLagMs);
    let started = false;
    return {
      name: 'audit',
      routes: () => [...auditQueryRoutes(ctx), ...auditExportRoutes(ctx)],
      readiness: () => [
        {
          name: 'audit_projection',
          check: () =>
            writer !== null && started
              ? lag.check(writer.holding.held)
              : {
                  ok: started && !projection.failed && projection.position >= ledger.read.position,
                  detail: { position: projection.position, ledger: ledger.read.position },
                },
        },
        { name: 'chain_checkpointer', check: () => checkpointer.status() },
      ],
      start: async () => {
        await projection.open();
        if (writer === null) await projection.start(); // caught up before the first request, as ever on SQLite
        started = true;
      },
      stop: async () => {
        await projection.close();
        await store.close();
      },
    };
  };
}

/** `token-ledger rebuild`: recomputes the audit store from the log (the witness then agrees with whatever the log holds). */
export async function rebuildAuditStore(
  config: Pick<Config, 'dataDir' | 'databaseUrl'>,
  store: EventStore,
  progress: Progress,
): Promise<string> {
  const audit = await openAuditStore(config);
  try {
    const bar = progress('audit trail', await store.headPosition());
    const n = await rebuildAudit(audit, store, (p) => bar.update(p));
    bar.done();
    return `audit trail rebuilt from ${n} events (chain ${(await audit.state()).chain.slice(0, 16)}…)`;
  } finally {
    await audit.close();
  }
}

/** The registered module; its checkpoint cadence is core configuration (LEDGER_CHECKPOINT_EVERY, LEDGER_CHECKPOINT_SECONDS). */
export const auditModule: PluginModule = {
  name: 'audit',
  settings: {},
  create: auditPlugin(),
  rebuild: rebuildAuditStore,
};
