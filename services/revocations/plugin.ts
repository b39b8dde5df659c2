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
import { SqliteCheckpointStore, type CheckpointStore } from './checkpoint.js';
import { PUBLISHER_LEASE, publisherReadiness } from './publisher-lease.js';
import { DEFAULT_SOURCE } from '../../projections/revocations/cloudevents.js';
import { RevocationFeed } from '../../projections/revocations/feed.js';
import { FeedState, type FeedImage } from '../../projections/revocations/feed-state.js';
import { RevocationIndex } from '../../projections/revocations/fanout.js';
import { loadImage } from '../snapshots/load-snapshot.js';
import { feedSnapshotFile, REVOCATION_FEED_SNAPSHOT } from '../snapshots/snapshot-file.js';
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
  /** Publisher checkpoint file (default `${dataDir}/publisher.db`; with LEDGER_DATABASE_URL the database is used). */
  readonly checkpointFile?: string;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

type ResolvedOptions = RevocationSettings & Pick<RevocationsOptions, 'checkpointFile' | 'backoff'>;

export function pinoLog(logger: Logger): LogFn {
  return (level, msg, extra) => logger[level](extra ?? {}, msg);
}

type PublisherConfig = Pick<
  Config,
  'dataDir' | 'databaseUrl' | 'kafkaBrokers' | 'kafkaClientId' | 'kafkaEventsTopic' | 'kafkaRevocationsTopic'
>;

/** Instances sharing a PostgreSQL ledger share its checkpoint there, so a new lease holder resumes; else a local file. */
async function openCheckpoints(config: PublisherConfig, opts: ResolvedOptions, log: LogFn): Promise<CheckpointStore> {
  if (config.databaseUrl === null)
    return new SqliteCheckpointStore(opts.checkpointFile ?? join(config.dataDir, 'publisher.db'));
  const { PostgresCheckpointStore } = await import('./postgres-checkpoint.js');
  return new PostgresCheckpointStore(config.databaseUrl, (msg, err) =>
    log('warn', msg, { err: err instanceof Error ? err.message : String(err) }),
  );
}

/** A Kafka publisher over `store` with its checkpoint store; null when Kafka is not configured. */
export async function createPublisher(
  store: EventStore,
  config: PublisherConfig,
  opts: ResolvedOptions,
  log: LogFn,
  metrics?: Metrics,
): Promise<{ publisher: KafkaPublisher; close: () => Promise<void> } | null> {
  if (config.kafkaBrokers === null || config.kafkaBrokers.length === 0) return null;
  // Loaded only when publishing is on: a ledger without Kafka never loads the client library.
  const { createKafkaSink } = await import('./kafka-sink.js');
  const checkpoints = await openCheckpoints(config, opts, log);
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
    // The feed's snapshot holds the fan-out index at its position: usable when Kafka already has everything up to it.
    restoreIndex: (atMost) =>
      loadImage(
        store,
        feedSnapshotFile(config.dataDir),
        REVOCATION_FEED_SNAPSHOT,
        (img: FeedImage) =>
          img.position <= atMost ? { index: RevocationIndex.fromImage(img.index), position: img.position } : null,
        (msg, detail) => log('warn', msg, detail),
      ),
  });
  return {
    publisher,
    close: async () => {
      await publisher.stop();
      await checkpoints.close();
    },
  };
}

/** The plugin factory: the validated settings (pluginSettings), with `options` over them. */
export function revocationsPlugin(options: RevocationsOptions = {}): PluginFactory {
  return async ({ ledger, config, logger, metrics, streams, singleton }) => {
    const opts: ResolvedOptions = { ...pluginSettings(config, revocationsModule), ...options };
    const log = logger.child({ component: 'revocations' });
    const feed = new RevocationFeed(ledger.store, opts.source, (msg, err) => log.error({ err }, msg));
    const pub = await createPublisher(ledger.store, config, opts, pinoLog(log), metrics);
    // One publisher at a time across instances sharing the store; the server starts it once the lease is granted.
    const lease = pub
      ? singleton(PUBLISHER_LEASE, { start: () => pub.publisher.start(), stop: () => pub.publisher.stop() })
      : null;
    return {
      name: 'revocations',
      routes: () =>
        revocationRoutes(ledger, feed, { heartbeatMs: opts.heartbeatMs, retryMs: opts.retryMs, streams, metrics }),
      readiness: () => [
        { name: 'revocation_feed', check: () => feed.ready },
        // A broker outage shows here (state, lag, last error) but does not fail readiness:
        // Kafka being down must never take the API out of rotation.
        ...(pub && lease ? [publisherReadiness(pub.publisher, lease)] : []),
      ],
      start: async () => {
        // Catch up from the feed's snapshot (written beside the read model's) instead of replaying the whole log.
        const file = feedSnapshotFile(config.dataDir);
        const t0 = performance.now();
        const restored = await loadImage(
          ledger.store,
          file,
          REVOCATION_FEED_SNAPSHOT,
          (img: FeedImage) => FeedState.fromImage(img, opts.source),
          (msg, detail) => log.warn(detail, msg),
        );
        const from = restored?.position;
        await feed.start(restored ?? undefined);
        if (restored !== null)
          log.info(
            { file, from, position: feed.position, ms: Math.round(performance.now() - t0) },
            'revocation feed restored from snapshot',
          );
      },
      stop: async () => {
        await pub?.close();
        await feed.stop();
      },
    };
  };
}

/**
 * The registered module. No rebuild hook: the feed is built in memory at every start (from its snapshot, which
 * `token-ledger rebuild` rewrites with the read model's), and the publisher checkpoint
 * (publisher.db, or its PostgreSQL table) records what Kafka already holds, which the log cannot tell; resetting it would
 * publish everything again.
 */
export const revocationsModule: PluginModule<typeof revocationSettings> = {
  name: 'revocations',
  settings: revocationSettings,
  create: revocationsPlugin(),
};
