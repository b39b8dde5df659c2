// Server plugin: the HTTP revocation feeds (always on) and the Kafka publisher (on when LEDGER_KAFKA_BROKERS is set).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EventStore } from '../../events/store/types.js';
import {
  optionalWholeNumberSetting,
  pluginSettings,
  textSetting,
  wholeNumberSetting,
  type Config,
  type SettingsSpec,
  type SettingValues,
} from '../config.js';
import type { Metrics } from '../metrics/registry.js';
import type { PluginFactory, PluginModule } from '../server.js';
import { SqliteCheckpointStore } from './checkpoint.js';
import { DEFAULT_SOURCE } from '../../projections/revocations/cloudevents.js';
import { RevocationFeed } from '../../projections/revocations/feed.js';
import { KafkaPublisher, type LogFn } from '../workers/publisher.js';
import { revocationRoutes } from './routes.js';

/** What this plugin reads from the environment; loadConfig validates it with the core settings. */
export const revocationSettings = {
  heartbeatMs: wholeNumberSetting('LEDGER_REVOCATIONS_HEARTBEAT_MS', {
    default: 15_000,
    min: 1,
    max: 86_400_000,
    description: 'SSE heartbeat comment interval',
  }),
  retryMs: wholeNumberSetting('LEDGER_REVOCATIONS_RETRY_MS', {
    default: 1000,
    min: 1,
    max: 86_400_000,
    description: 'SSE `retry:` hint',
  }),
  kafkaPartitions: optionalWholeNumberSetting('LEDGER_KAFKA_PARTITIONS', {
    min: 1,
    max: 86_400_000,
    shownDefault: 'broker default',
    description: 'partitions of topics the publisher creates',
  }),
  maxBatchMessages: wholeNumberSetting('LEDGER_KAFKA_BATCH_MESSAGES', {
    default: 500,
    min: 1,
    max: 86_400_000,
    description: "most messages per Kafka request (one event's fan-out is never split)",
  }),
  kafkaHeartbeatMs: wholeNumberSetting('LEDGER_KAFKA_HEARTBEAT_MS', {
    default: 5000,
    min: 1,
    max: 86_400_000,
    description: 'publisher heartbeat interval on the revocations topic',
  }),
  source: textSetting('LEDGER_CLOUDEVENTS_SOURCE', {
    default: DEFAULT_SOURCE,
    pattern: /^\S{1,1024}$/,
    what: 'a URI reference without spaces',
    description: 'CloudEvents `source`',
  }),
} as const satisfies SettingsSpec;

export type RevocationSettings = SettingValues<typeof revocationSettings>;

/** Overrides of the settings, and what only code sets (tests, benchmarks). */
export interface RevocationsOptions extends Partial<RevocationSettings> {
  /** Publisher checkpoint file (default `${dataDir}/publisher.db`). */
  readonly checkpointFile?: string;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

type ResolvedOptions = RevocationSettings & Pick<RevocationsOptions, 'checkpointFile' | 'backoff'>;

export function pinoLog(logger: Logger): LogFn {
  return (level, msg, extra) => logger[level](extra ?? {}, msg);
}

/** A Kafka publisher over `store` with its checkpoint file; null when Kafka is not configured. */
export async function createPublisher(
  store: EventStore,
  config: Pick<Config, 'dataDir' | 'kafkaBrokers' | 'kafkaClientId' | 'kafkaEventsTopic' | 'kafkaRevocationsTopic'>,
  opts: ResolvedOptions,
  log: LogFn,
  metrics?: Metrics,
): Promise<{ publisher: KafkaPublisher; close: () => Promise<void> } | null> {
  if (config.kafkaBrokers === null || config.kafkaBrokers.length === 0) return null;
  // Loaded only when publishing is on: a ledger without Kafka never loads the client library.
  const { createKafkaSink } = await import('./kafka-sink.js');
  const checkpoints = new SqliteCheckpointStore(opts.checkpointFile ?? join(config.dataDir, 'publisher.db'));
  const sink = createKafkaSink({
    brokers: config.kafkaBrokers,
    clientId: config.kafkaClientId,
    topics: [{ name: config.kafkaEventsTopic }, { name: config.kafkaRevocationsTopic, compact: true }],
    ...(opts.kafkaPartitions === null ? {} : { partitions: opts.kafkaPartitions }),
    log: (level, msg, extra) => log(level === 'error' ? 'warn' : level, msg, extra),
  });
  const publisher = new KafkaPublisher({
    store,
    sink,
    checkpoints,
    eventsTopic: config.kafkaEventsTopic,
    revocationsTopic: config.kafkaRevocationsTopic,
    source: opts.source,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    maxBatchMessages: opts.maxBatchMessages,
    heartbeatMs: opts.kafkaHeartbeatMs,
    ...(metrics ? { metrics } : {}),
    log,
  });
  return {
    publisher,
    close: async () => {
      await publisher.stop();
      checkpoints.close();
    },
  };
}

/** The plugin factory: the validated settings (pluginSettings), with `options` over them. */
export function revocationsPlugin(options: RevocationsOptions = {}): PluginFactory {
  return async ({ ledger, config, logger, metrics, streams }) => {
    const opts: ResolvedOptions = { ...pluginSettings(config, revocationsModule), ...options };
    const log = logger.child({ component: 'revocations' });
    const feed = new RevocationFeed(ledger.store, opts.source, (msg, err) => log.error({ err }, msg));
    const pub = await createPublisher(ledger.store, config, opts, pinoLog(log), metrics);
    return {
      name: 'revocations',
      routes: () =>
        revocationRoutes(ledger, feed, { heartbeatMs: opts.heartbeatMs, retryMs: opts.retryMs, streams, metrics }),
      readiness: () => [
        { name: 'revocation_feed', check: () => feed.ready },
        // A broker outage shows here (state, lag, last error) but does not fail readiness:
        // Kafka being down must never take the API out of rotation.
        ...(pub
          ? [
              {
                name: 'kafka_publisher',
                check: () => ({ ok: pub.publisher.status().state !== 'stopped', detail: pub.publisher.status() }),
              },
            ]
          : []),
      ],
      start: async () => {
        await feed.start();
        pub?.publisher.start();
      },
      stop: async () => {
        await pub?.close();
        await feed.stop();
      },
    };
  };
}

/**
 * The registered module. No rebuild hook: the feed is rebuilt in memory at every start, and the publisher checkpoint
 * (publisher.db) records what Kafka already holds, which the log cannot tell; resetting it would publish everything again.
 */
export const revocationsModule: PluginModule<typeof revocationSettings> = {
  name: 'revocations',
  settings: revocationSettings,
  create: revocationsPlugin(),
};
