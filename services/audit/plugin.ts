// The audit plugin: audit.db projection, query/history/point-in-time routes, exports, and signed chain checkpoints.
import { join } from 'node:path';
import type { PluginFactory } from '../server.js';
import { AuditDb } from '../../projections/audit/audit-db.js';
import { Checkpointer } from '../workers/checkpointer.js';
import type { AuditContext } from './context.js';
import { auditExportRoutes } from './export-routes.js';
import { AuditProjection } from '../../projections/audit/projection.js';
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
