// Who grants leases: PostgreSQL advisory locks, or EventStoreDB lease streams with expected revisions, when instances
// share that store; this process alone otherwise (SQLite owns its folder). The server and the stand-alone publisher
// take them the same way.
import type { Config } from '../config.js';
import { LocalLeases, type Leases } from '../../events/store/leases.js';

export async function openLeases(
  config: Pick<Config, 'databaseUrl' | 'eventStoreUrl' | 'instanceId'>,
): Promise<Leases> {
  if (config.databaseUrl !== null) {
    const { PostgresLeases } = await import('../../events/store/postgres-leases.js');
    return new PostgresLeases(config.databaseUrl, config.instanceId);
  }
  if (config.eventStoreUrl !== null) {
    const { EsdbLeases } = await import('../../events/store/esdb/leases.js');
    return new EsdbLeases(config.eventStoreUrl, config.instanceId);
  }
  return new LocalLeases(config.instanceId);
}
