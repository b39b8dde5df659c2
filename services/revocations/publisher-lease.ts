// The Kafka publisher runs on the holder of one lease, whether inside a server or as run-publisher: never two at once.
import type { ReadinessCheck } from '../http/context.js';
import type { PublisherHandle } from '../workers/publisher.js';
import type { Singleton } from '../workers/singleton.js';

export const PUBLISHER_LEASE = 'kafka-publisher';

/**
 * The holder shows the publisher's state, lag and last error; a standby has nothing to publish and is healthy. Neither
 * fails on a broker outage: Kafka being down must never take the API out of rotation.
 */
export function publisherReadiness(publisher: Pick<PublisherHandle, 'status'>, lease: Singleton): ReadinessCheck {
  return {
    name: 'kafka_publisher',
    check: () => {
      const { held, since } = lease.holding;
      if (!held) return { ok: true, detail: { state: 'standby', lease: lease.name } };
      const status = publisher.status();
      return {
        ok: status.state !== 'stopped',
        detail: { ...status, lease: lease.name, leaseSince: new Date(since ?? Date.now()).toISOString() },
      };
    },
  };
}
