// Server plugin: the HTTP revocation feeds (always on) and the Kafka publisher (on when LEDGER_KAFKA_BROKERS is set).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { EventStore } from '../../events/store/types.js';
import { ConfigError, type Config } from '../config.js';
import type { Metrics } from '../http/metrics.js';
import type { PluginFactory } from '../server.js';
import { SqliteCheckpointStore } from './checkpoint.js';
import { DEFAULT_SOURCE } from '../../projections/revocations/cloudevents.js';
import { RevocationFeed } from '../../projections/revocations/feed.js';
import { KafkaPublisher, type LogFn } from '../workers/publisher.js';
import { revocationRoutes } from './routes.js';

export interface RevocationsOptions {
  /** SSE heartbeat interval (env LEDGER_REVOCATIONS_HEARTBEAT_MS, default 15000). */
  readonly heartbeatMs?: number;
  /** SSE `retry:` hint (env LEDGER_REVOCATIONS_RETRY_MS, default 1000). */
  readonly retryMs?: number;
  /** Publisher checkpoint file (default `${dataDir}/publisher.db`). */
  readonly checkpointFile?: string;
  /** Partitions of topics the publisher creates (env LEDGER_KAFKA_PARTITIONS; broker default when unset). */
  readonly kafkaPartitions?: number;
  /** CloudEvents `source` (env LEDGER_CLOUDEVENTS_SOURCE, default /token-ledger). */
  readonly source?: string;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Most messages per Kafka request (env LEDGER_KAFKA_BATCH_MESSAGES, default 500). */
  readonly maxBatchMessages?: number;
  /** Publisher heartbeat interval on the revocations topic (env LEDGER_KAFKA_HEARTBEAT_MS, default 5000). */
  readonly kafkaHeartbeatMs?: number;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 86_400_000) throw new ConfigError(`${name} must be a whole number between 1 and 86400000, got "${raw}"`);
  return n;
}

export function revocationsOptionsFromEnv(env: NodeJS.ProcessEnv): RevocationsOptions {
  const heartbeatMs = positiveInt(env, 'LEDGER_REVOCATIONS_HEARTBEAT_MS');
  const retryMs = positiveInt(env, 'LEDGER_REVOCATIONS_RETRY_MS');
  const kafkaPartitions = positiveInt(env, 'LEDGER_KAFKA_PARTITIONS');
  const maxBatchMessages = positiveInt(env, 'LEDGER_KAFKA_BATCH_MESSAGES');
  const kafkaHeartbeatMs = positiveInt(env, 'LEDGER_KAFKA_HEARTBEAT_MS');
  const source = env.LEDGER_CLOUDEVENTS_SOURCE?.trim();
  return {
    ...(kafkaHeartbeatMs === undefined ? {} : { kafkaHeartbeatMs }),
    ...(maxBatchMessages === undefined ? {} : { maxBatchMessages }),
    ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
    ...(retryMs === undefined ? {} : { retryMs }),
    ...(kafkaPartitions === undefined ? {} : { kafkaPartitions }),
    ...(source ? { source } : {}),
  };
}

export function pinoLog(logger: Logger): LogFn {
  return (level, msg, extra) => logger[level](extra ?? {}, msg);
}

/** A Kafka publisher over `store` with its checkpoint file; null when Kafka is not configured. */
export async function createPublisher(
  store: EventStore,
  config: Pick<Config, 'dataDir' | 'kafkaBrokers' | 'kafkaClientId' | 'kafkaEventsTopic' | 'kafkaRevocationsTopic'>,
  opts: RevocationsOptions,
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
    ...(opts.kafkaPartitions === undefined ? {} : { partitions: opts.kafkaPartitions }),
    log: (level, msg, extra) => log(level === 'error' ? 'warn' : level, msg, extra),
  });
  const publisher = new KafkaPublisher({
    store,
    sink,
    checkpoints,
    eventsTopic: config.kafkaEventsTopic,
    revocationsTopic: config.kafkaRevocationsTopic,
    source: opts.source ?? DEFAULT_SOURCE,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
    ...(opts.maxBatchMessages ? { maxBatchMessages: opts.maxBatchMessages } : {}),
    ...(opts.kafkaHeartbeatMs ? { heartbeatMs: opts.kafkaHeartbeatMs } : {}),
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

/** The plugin factory; options default to the environment. */
export function revocationsPlugin(options?: RevocationsOptions): PluginFactory {
  return async ({ ledger, config, logger, metrics }) => {
    const opts = options ?? revocationsOptionsFromEnv(process.env);
    const log = logger.child({ component: 'revocations' });
    const source = opts.source ?? DEFAULT_SOURCE;
    const feed = new RevocationFeed(ledger.store, source, (msg, err) => log.error({ err }, msg));
    const pub = await createPublisher(ledger.store, config, opts, pinoLog(log), metrics);
    return {
      name: 'revocations',
      routes: () => revocationRoutes(ledger, feed, { heartbeatMs: opts.heartbeatMs ?? 15_000, retryMs: opts.retryMs ?? 1000, metrics }),
      readiness: () => [
        { name: 'revocation_feed', check: () => feed.ready },
        // A broker outage shows here (state, lag, last error) but does not fail readiness:
        // Kafka being down must never take the API out of rotation.
        ...(pub ? [{ name: 'kafka_publisher', check: () => ({ ok: pub.publisher.status().state !== 'stopped', detail: pub.publisher.status() }) }] : []),
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
