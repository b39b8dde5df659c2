// The publisher's gauges, read from its status at scrape time: the same figures whether it runs in this process or in
// a child process that reports its status here.
import type { Metrics } from '../metrics/registry.js';
import type { PublisherStatus } from './publisher.js';

type NumberField = {
  [K in keyof PublisherStatus]: PublisherStatus[K] extends number ? K : never;
}[keyof PublisherStatus];

/** The gauges that are one number of the status, as is. */
const PLAIN: ReadonlyArray<readonly [name: string, help: string, field: NumberField]> = [
  ['ledger_publisher_checkpoint_position', 'Last ledger position the message bus acknowledged', 'checkpoint'],
  [
    'ledger_publisher_lag_events',
    'Ledger events read from the log and not yet acknowledged by the message bus',
    'lagEvents',
  ],
  [
    'ledger_publisher_lag_positions',
    'Head minus checkpoint, in the event store position unit (EventStoreDB: bytes)',
    'lagPositions',
  ],
  ['ledger_publisher_lag_seconds', 'Age of the oldest ledger event waiting for the message bus', 'lagSeconds'],
];

export function publisherGauges(m: Metrics, status: () => PublisherStatus): void {
  for (const [name, help, field] of PLAIN) m.gauge(name, help, () => status()[field]);
  m.gauge(
    'ledger_publisher_heartbeat_age_seconds',
    'Time since the last heartbeat the message bus acknowledged (-1: none yet)',
    () => {
      const at = status().lastHeartbeatAt;
      return at === null ? -1 : Math.max(0, Date.now() - Date.parse(at)) / 1000;
    },
  );
  m.gauge('ledger_publisher_up', '1 while the publisher is connected and its last send succeeded', () => {
    const s = status();
    return s.connected && s.lastError === null ? 1 : 0;
  });
}
