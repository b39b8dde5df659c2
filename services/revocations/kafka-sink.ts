// The kafkajs adapter behind MessageSink: idempotent producer, acks=all, one request in flight.
// This is the only server file that imports kafkajs; replace it to move to another client library.
import { Kafka, Partitioners, logLevel, type LogEntry, type Producer } from 'kafkajs';
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
