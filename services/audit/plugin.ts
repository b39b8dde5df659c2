// The audit plugin: audit.db projection, query/history/point-in-time routes, exports, and signed chain checkpoints.
import { join } from 'node:path';
import type { EventStore } from '../../events/store/types.js';
import type { Config } from '../config.js';
import type { PluginFactory, PluginModule, Progress } from '../server.js';
import { AuditDb } from '../../projections/audit/audit-db.js';
import { Checkpointer } from '../workers/checkpointer.js';
import type { AuditContext } from './context.js';
import { auditExportRoutes } from './export-routes.js';
import { AuditProjection, rebuildAudit } from '../../projections/audit/projection.js';
import { auditQueryRoutes } from './query-routes.js';
import { auditExtensions } from '../../projections/audit/timeline.js';

export function auditDbFile(dataDir: string): string {
  return join(dataDir, 'audit.db');
}

export function auditPlugin(): PluginFactory {
  return ({ ledger, config, logger, metrics, signingKey }) => {
    const log = logger.child({ component: 'audit' });
    const db = new AuditDb(auditDbFile(config.dataDir), auditExtensions);
    const projection = new AuditProjection(db, ledger.store, (msg, err) => log.error({ err }, msg));
    const ctx: AuditContext = { ledger, config, logger: log, metrics, signingKey, db, projection };
    const checkpointer = new Checkpointer(ctx);
    let started = false;
    return {
      name: 'audit',
      routes: () => [...auditQueryRoutes(ctx), ...auditExportRoutes(ctx)],
      readiness: () => [
        {
          name: 'audit_projection',
          check: () => ({
            ok: started && !projection.failed && projection.position >= ledger.read.position,
            detail: { position: projection.position, ledger: ledger.read.position },
          }),
        },
        { name: 'chain_checkpointer', check: () => checkpointer.status() },
      ],
      start: async () => {
        await projection.start();
        await checkpointer.start();
        started = true;
      },
      stop: async () => {
        await checkpointer.stop();
        await projection.stop();
        db.close();
      },
    };
  };
}

/** `token-ledger rebuild`: recomputes audit.db from the log (the witness then agrees with whatever the log holds). */
export async function rebuildAuditDb(
  config: Pick<Config, 'dataDir'>,
  store: EventStore,
  progress: Progress,
): Promise<string> {
  const db = new AuditDb(auditDbFile(config.dataDir), auditExtensions);
  try {
    const bar = progress('audit trail', await store.headPosition());
    const n = await rebuildAudit(db, store, (p) => bar.update(p));
    bar.done();
    return `audit trail rebuilt from ${n} events (chain ${db.checkpoint.chain.slice(0, 16)}…)`;
  } finally {
    db.close();
  }
}

/** The registered module; its checkpoint cadence is core configuration (LEDGER_CHECKPOINT_EVERY, LEDGER_CHECKPOINT_SECONDS). */
export const auditModule: PluginModule = {
  name: 'audit',
  settings: {},
  create: auditPlugin(),
  rebuild: rebuildAuditDb,
};
