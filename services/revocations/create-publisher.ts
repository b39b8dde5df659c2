// Builds a Kafka publisher over a store: its checkpoint store (a file, or the shared PostgreSQL table), its Kafka sink
// and its fan-out index restored from the feed's snapshot. Used in the server's publisher process and in run-publisher.
import { join } from 'node:path';
import type { EventStore } from '../../events/store/types.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics/registry.js';
import { SqliteCheckpointStore, type CheckpointStore } from './checkpoint.js';
import type { FeedImage } from '../../projections/revocations/feed-state.js';
import { RevocationIndex } from '../../projections/revocations/fanout.js';
import { loadImage } from '../snapshots/load-snapshot.js';
import { feedSnapshotFile, REVOCATION_FEED_SNAPSHOT } from '../snapshots/snapshot-file.js';
import { KafkaPublisher, type LogFn } from '../workers/publisher.js';

/** The publisher's own settings (the revocations plugin's, resolved), and what only code sets (tests, benchmarks). */
export interface PublisherSettings {
  readonly kafkaPartitions: number | null;
  readonly maxBatchMessages: number;
  readonly kafkaHeartbeatMs: number;
  readonly source: string;
  /** Checkpoint file (default `${dataDir}/publisher.db`; with LEDGER_DATABASE_URL the database is used). */
  readonly checkpointFile?: string;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

export type PublisherConfig = Pick<
  Config,
  'dataDir' | 'databaseUrl' | 'kafkaBrokers' | 'kafkaClientId' | 'kafkaEventsTopic' | 'kafkaRevocationsTopic'
>;

/** Instances sharing a PostgreSQL ledger share its checkpoint there, so a new lease holder resumes; else a local file. */
async function openCheckpoints(config: PublisherConfig, opts: PublisherSettings, log: LogFn): Promise<CheckpointStore> {
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
  opts: PublisherSettings,
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
