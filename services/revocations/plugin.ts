// Server plugin: the HTTP revocation feeds (always on) and the Kafka publisher (on when LEDGER_KAFKA_BROKERS is set).
import {
  optionalWholeNumberSetting,
  pluginSettings,
  textSetting,
  wholeNumberSetting,
  type SettingsSpec,
  type SettingValues,
} from '../config.js';
import type { PluginFactory, PluginModule } from '../server.js';
import { PUBLISHER_LEASE, publisherReadiness } from './publisher-lease.js';
import { DEFAULT_SOURCE } from '../../projections/revocations/cloudevents.js';
import { RevocationFeed } from '../../projections/revocations/feed.js';
import { FeedState, type FeedImage } from '../../projections/revocations/feed-state.js';
import { loadImage } from '../snapshots/load-snapshot.js';
import { feedSnapshotFile, REVOCATION_FEED_SNAPSHOT } from '../snapshots/snapshot-file.js';
import { pinoLog } from '../logger.js';
import { serverPublisher } from './server-publisher.js';
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

/** The plugin factory: the validated settings (pluginSettings), with `options` over them. */
export function revocationsPlugin(options: RevocationsOptions = {}): PluginFactory {
  return async ({ ledger, config, logger, metrics, streams, singleton }) => {
    const opts: ResolvedOptions = { ...pluginSettings(config, revocationsModule), ...options };
    const log = logger.child({ component: 'revocations' });
    const feed = new RevocationFeed(ledger.store, opts.source, (msg, err) => log.error({ err }, msg));
    const pub = await serverPublisher(ledger.store, config, opts, pinoLog(log), metrics);
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
