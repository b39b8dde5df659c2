// Who grants leases: PostgreSQL advisory locks when instances share it, this process alone otherwise (SQLite owns its
// folder; EventStoreDB has no lease here yet). The server and the stand-alone publisher take them the same way.
import type { Config } from '../config.js';
import { LocalLeases, type Leases } from '../../events/store/leases.js';

export async function openLeases(config: Pick<Config, 'databaseUrl' | 'instanceId'>): Promise<Leases> {
  if (config.databaseUrl !== null) {
    const { PostgresLeases } = await import('../../events/store/postgres-leases.js');
    return new PostgresLeases(config.databaseUrl, config.instanceId);
  }
  return new LocalLeases(config.instanceId);
}
