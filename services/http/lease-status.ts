// Which instance holds which lease: a /readyz check that never fails readiness, and two /metrics families.
import { Gauge } from 'prom-client';
import type { Logger } from 'pino';
import type { Leases } from '../../events/store/leases.js';
import type { Metrics } from '../metrics/registry.js';

export interface LeasesCheck {
  readonly name: 'leases';
  readonly ok: true;
  readonly detail: Record<string, unknown>;
}

/** Every lease with its holder and since when; a store that cannot answer is reported here, not as unreadiness. */
export async function leasesCheck(leases: Leases, logger: Logger): Promise<LeasesCheck> {
  try {
    return { name: 'leases', ok: true, detail: { instance: leases.instanceId, leases: await leases.list() } };
  } catch (err) {
    logger.warn({ err }, 'listing leases failed');
    const error = err instanceof Error ? err.message : String(err);
    return { name: 'leases', ok: true, detail: { instance: leases.instanceId, error } };
  }
}

/** Registering a name again replaces the gauge (another app on the same registry). */
function register(metrics: Metrics, name: string, gauge: Gauge): void {
  metrics.registry.removeSingleMetric(name);
  metrics.registry.registerMetric(gauge);
}

const INFO = 'ledger_instance_info';
const HELD = 'ledger_lease_held';

/** `ledger_instance_info{instance}` (always 1) and `ledger_lease_held{lease}` (1 on the holder, 0 elsewhere). */
export function leaseMetrics(metrics: Metrics, leases: Leases, logger: Logger): void {
  const info = new Gauge({
    name: INFO,
    help: "This instance's id (LEDGER_INSTANCE_ID), as lease listings name it",
    labelNames: ['instance'],
    registers: [],
  });
  info.set({ instance: leases.instanceId }, 1);
  register(metrics, INFO, info);
  register(
    metrics,
    HELD,
    new Gauge({
      name: HELD,
      help: 'Singleton leases: 1 when this instance holds the lease, 0 when another instance does or nobody does',
      labelNames: ['lease'],
      registers: [],
      async collect() {
        this.reset();
        try {
          for (const l of await leases.list()) this.set({ lease: l.name }, l.holder === leases.instanceId ? 1 : 0);
        } catch (err) {
          // The rest of /metrics still renders; the missing series and this log line show the store's trouble.
          logger.warn({ err }, 'listing leases for /metrics failed');
        }
      },
    }),
  );
}
