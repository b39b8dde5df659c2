// The server's publisher: in a child process below the server's CPU priority when that process can open the same store
// (a SQLite file, PostgreSQL, EventStoreDB, all from the configuration); in this process otherwise (a store handed in
// by code, an in-memory one). Either way the same handle, status, gauges and counters.
import { SqliteEventStore } from '../../events/store/sqlite.js';
import type { EventStore } from '../../events/store/types.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics/registry.js';
import { ledgerFile } from '../open-store.js';
import { publisherGauges } from '../workers/publisher-gauges.js';
import { PublisherProcess } from '../workers/publisher-process.js';
import type { LogFn, PublisherHandle } from '../workers/publisher.js';
import { createPublisher, type PublisherConfig, type PublisherSettings } from './create-publisher.js';

export interface ServerPublisher {
  readonly publisher: PublisherHandle;
  readonly close: () => Promise<void>;
}

/** Whether a process given only the configuration opens the very store `store` is. */
function openedFromConfig(
  store: EventStore,
  config: Pick<Config, 'dataDir' | 'eventStoreUrl' | 'databaseUrl'>,
): boolean {
  if (store instanceof SqliteEventStore)
    return config.databaseUrl === null && config.eventStoreUrl === null && store.file === ledgerFile(config);
  if (store.kind === 'postgres') return config.databaseUrl !== null;
  if (store.kind === 'esdb') return config.eventStoreUrl !== null && config.databaseUrl === null;
  return false;
}

/** The publisher over `store`; null when Kafka is not configured. */
export async function serverPublisher(
  store: EventStore,
  config: PublisherConfig & Pick<Config, 'eventStoreUrl'>,
  settings: PublisherSettings,
  log: LogFn,
  metrics: Metrics,
): Promise<ServerPublisher | null> {
  if (config.kafkaBrokers === null || config.kafkaBrokers.length === 0) return null;
  if (!openedFromConfig(store, config)) {
    const pub = await createPublisher(store, config, settings, log, metrics);
    if (pub !== null) publisherGauges(metrics, () => pub.publisher.status());
    return pub;
  }
  const child = {
    config: {
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      eventStoreUrl: config.eventStoreUrl,
      kafkaBrokers: config.kafkaBrokers,
      kafkaClientId: config.kafkaClientId,
      kafkaEventsTopic: config.kafkaEventsTopic,
      kafkaRevocationsTopic: config.kafkaRevocationsTopic,
    },
    settings,
  };
  const watch = store instanceof SqliteEventStore ? (l: () => void) => store.watch(l) : undefined;
  const publisher = new PublisherProcess({ child, log, ...(watch ? { watch } : {}) });
  publisherGauges(metrics, () => publisher.status());
  const removeSource = metrics.addSource(() => publisher.metricsText());
  return {
    publisher,
    close: async () => {
      removeSource();
      await publisher.stop();
    },
  };
}
