// The kafkajs adapter behind MessageSink: idempotent producer, acks=all, one request in flight.
// This is the only server file that imports kafkajs; replace it to move to another client library.
import kafkajs, { Kafka, Partitioners, logLevel, type Admin, type LogEntry, type Producer } from 'kafkajs';
import type { MessageSink, OutgoingMessage, TopicSpec } from './bus.js';

export interface KafkaSinkOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly topics: readonly TopicSpec[];
  /** Partitions for topics this sink creates; the broker's default when unset. */
  readonly partitions?: number;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly log?: (level: 'error' | 'warn' | 'info' | 'debug', msg: string, extra: Record<string, unknown>) => void;
}

/**
 * A compacted topic must be compact only: with `delete` in its cleanup.policy, old revocations fall out after
 * retention.ms and a watcher reading from the beginning builds an incomplete set. Topics we create are made
 * right; for topics that already exist the policy is checked, corrected when the broker lets us (alterConfigs,
 * keeping the topic's other overrides), and otherwise reported as a warning on every start.
 */
async function checkCompaction(admin: Admin, topic: string, log: KafkaSinkOptions['log']): Promise<void> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
  });
  const entries = described.resources[0]?.configEntries ?? [];
  const policy = entries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? 'delete';
  if (
    policy
      .split(',')
      .map((p) => p.trim())
      .join(',') === 'compact'
  )
    return;
  log?.('warn', 'revocations topic is not compacted: old revocations may be deleted before new watchers read them', {
    topic,
    cleanupPolicy: policy,
  });
  // alterConfigs replaces every topic-level override, so the others are sent back unchanged.
  const overrides = entries.filter(
    (e) => e.configSource === ConfigSource.TOPIC_CONFIG && e.configName !== 'cleanup.policy',
  );
  if (overrides.some((e) => e.isSensitive)) {
    log?.('warn', 'not correcting cleanup.policy: the topic has sensitive overrides that cannot be read back', {
      topic,
    });
    return;
  }
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: [
            ...overrides.map((e) => ({ name: e.configName, value: e.configValue })),
            { name: 'cleanup.policy', value: 'compact' },
          ],
        },
      ],
    });
    log?.('warn', 'set cleanup.policy=compact on the revocations topic', { topic, was: policy });
  } catch (err) {
    log?.('warn', 'could not set cleanup.policy=compact on the revocations topic; set it by hand', {
      topic,
      err: err instanceof Error ? err.message : String(err),
    });
  }
}

// Node's CommonJS export detection misses these enums: they are read off the module object.
const { ConfigResourceTypes, ConfigSource } = kafkajs;

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafkaSink(opts: KafkaSinkOptions): MessageSink {
  const log = opts.log;
  const kafka = new Kafka({
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    connectionTimeout: opts.connectionTimeoutMs ?? 1000,
    requestTimeout: opts.requestTimeoutMs ?? 10_000,
    // Our publisher owns retrying (with backoff, after a fresh connect); kafkajs retries only briefly.
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: log ? logLevel.WARN : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      log?.(LEVELS[entry.level] ?? 'info', `kafkajs ${entry.namespace}: ${message}`, extra);
    },
  });
  let producer: Producer | null = null;
  let topicsReady = false;

  const ensureTopics = async (): Promise<void> => {
    if (topicsReady || opts.topics.length === 0) return;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: opts.topics.map((t) => ({
          topic: t.name,
          ...(opts.partitions === undefined ? {} : { numPartitions: opts.partitions }),
          configEntries: t.compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
        })),
      });
      for (const t of opts.topics.filter((x) => x.compact)) {
        // A broker that refuses DescribeConfigs must not stop publishing: it is reported instead.
        await checkCompaction(admin, t.name, log).catch((err: unknown) =>
          log?.('warn', 'could not check cleanup.policy of the revocations topic', {
            topic: t.name,
            err: err instanceof Error ? err.message : String(err),
          }),
        );
      }
      topicsReady = true;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };

  return {
    async connect() {
      if (producer) return;
      const p = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: true,
        retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
      });
      try {
        await ensureTopics();
        await p.connect();
      } catch (err) {
        await p.disconnect().catch(() => undefined);
        throw err;
      }
      producer = p;
    },

    async send(messages: readonly OutgoingMessage[]) {
      if (!producer) await this.connect();
      const byTopic = new Map<string, Array<{ key: string; value: string; headers: Record<string, string> }>>();
      for (const m of messages) {
        let list = byTopic.get(m.topic);
        if (!list) byTopic.set(m.topic, (list = []));
        list.push({ key: m.key, value: m.value, headers: { ...m.headers } });
      }
      await producer!.sendBatch({
        acks: -1,
        timeout: opts.requestTimeoutMs ?? 10_000,
        topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })),
      });
    },

    async reset() {
      const p = producer;
      producer = null;
      await p?.disconnect().catch(() => undefined);
    },

    async close() {
      await this.reset();
    },
  };
}
