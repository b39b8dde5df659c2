// The watcher's Kafka input (kafkajs), behind the small RevocationSource interface of revocation-watcher.ts.
// Loaded only when a watcher is created with `kafka`, so HTTP-only services never load kafkajs.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { HEARTBEAT_TYPE, type HeartbeatEvent, type RevocationEvent } from './protocol.js';

export interface KafkaWatchOptions {
  readonly brokers: readonly string[];
  /** Revocations topic (default token-ledger.revocations). */
  readonly topic?: string;
  readonly clientId?: string;
  /**
   * Consumer group. Every watcher must read every partition from the earliest offset, so the default is a fresh,
   * unique group per watcher; offsets are never committed.
   */
  readonly groupId?: string;
  readonly connectionTimeoutMs?: number;
}

/** Where a message was read, and whether it is news: written after this source started, and not seen before. */
export interface ReadAt {
  readonly partition: number;
  readonly offset: string;
  /** false for history (offsets below the end the partition had at start) and for re-reads after a consumer restart. */
  readonly live: boolean;
}

export interface SourceSink {
  /** One revocation-class event. */
  event(ev: RevocationEvent, at: ReadAt): void;
  /** A publisher heartbeat. Only a live one says the publisher is alive now. */
  heartbeat(hb: HeartbeatEvent, at: ReadAt): void;
  /** The broker answered a fetch. This proves the broker is up, not that the ledger's publisher is. */
  connected(): void;
  /** Everything that existed when the source started has been delivered. */
  caughtUp(): void;
  error(err: unknown): void;
}

export interface RunningSource {
  /** Resolves when the consumer stopped for good (a crash kafkajs will not restart); the watcher then starts anew. */
  readonly ended: Promise<void>;
  close(): Promise<void>;
}

export async function startKafkaSource(
  o: KafkaWatchOptions,
  maxWaitMs: number,
  sink: SourceSink,
): Promise<RunningSource> {
  const topic = o.topic ?? 'token-ledger.revocations';
  const kafka = new Kafka({
    clientId: o.clientId ?? 'revocation-watcher',
    brokers: [...o.brokers],
    connectionTimeout: o.connectionTimeoutMs ?? 1000,
    logLevel: logLevel.NOTHING,
    // Fail fast; the watcher retries with its own backoff (and a stale watcher already fails closed).
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
  });
  const consumer: Consumer = kafka.consumer({
    groupId: o.groupId ?? `revocation-watcher-${randomUUID()}`,
    maxWaitTimeInMs: maxWaitMs,
    minBytes: 1,
    // After a failure the consumer restarts itself (kafkajs restartOnFailure defaults to true).
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2000 },
  });

  // Caught up once every partition reached the end it had when we started; offsets from that end on are live.
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<number, bigint>();
  const startEnd = new Map<number, bigint>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const high = BigInt(p.high);
      startEnd.set(p.partition, high);
      if (high > BigInt(p.low)) remaining.set(p.partition, high);
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  let caughtUp = false;
  const checkCaughtUp = (): void => {
    if (!caughtUp && remaining.size === 0) {
      caughtUp = true;
      sink.caughtUp();
    }
  };
  // Highest offset delivered per partition: a consumer restarted by kafkajs reads from the beginning again,
  // and a re-read heartbeat must not pass for a new one.
  const highest = new Map<number, bigint>();

  let endSource!: () => void;
  const ended = new Promise<void>((resolve) => (endSource = resolve));
  consumer.on(consumer.events.FETCH, () => sink.connected());
  consumer.on(consumer.events.CRASH, (e) => {
    sink.error(e.payload.error);
    if (!e.payload.restart) endSource();
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // Sync handler wrapped in a resolved promise: nothing here awaits.
      eachMessage: ({ partition, message }) => {
        const offset = BigInt(message.offset);
        const seen = highest.get(partition);
        const live = offset >= (startEnd.get(partition) ?? 0n) && (seen === undefined || offset > seen);
        if (seen === undefined || offset > seen) highest.set(partition, offset);
        const at: ReadAt = { partition, offset: message.offset, live };
        if (message.value !== null) {
          try {
            const ev = JSON.parse(message.value.toString('utf8')) as RevocationEvent | HeartbeatEvent;
            if (ev && typeof ev === 'object' && typeof ev.type === 'string') {
              if (ev.type === HEARTBEAT_TYPE) sink.heartbeat(ev as HeartbeatEvent, at);
              else sink.event(ev as RevocationEvent, at);
            }
          } catch (err) {
            sink.error(err);
          }
        }
        const end = remaining.get(partition);
        if (end !== undefined && offset + 1n >= end) {
          remaining.delete(partition);
          checkCaughtUp();
        }
        return Promise.resolve();
      },
    });
  } catch (err) {
    await consumer.disconnect().catch(() => undefined);
    throw err;
  }
  checkCaughtUp();
  return {
    ended,
    close: async () => {
      endSource();
      await consumer.disconnect().catch(() => undefined);
    },
  };
}
