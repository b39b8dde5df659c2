// The watcher's Kafka input (kafkajs), behind the small RevocationSource interface of revocation-watcher.ts.
// Loaded only when a watcher is created with `kafka`, so HTTP-only services never load kafkajs.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import type { RevocationEvent } from './protocol.js';

export interface KafkaWatchOptions {
  readonly brokers: readonly string[];
  /** Revocations topic (default token-ledger.revocations). */
  readonly topic?: string;
  readonly clientId?: string;
  /**
   * Consumer group. Every watcher must read every partition from the beginning, so the default is a fresh,
   * unique group per watcher; offsets are never committed.
   */
  readonly groupId?: string;
  readonly connectionTimeoutMs?: number;
}

export interface SourceSink {
  /** One revocation-class event; `partition`/`offset` say where it was read. */
  event(ev: RevocationEvent, partition: number, offset: string): void;
  /** The source proved it is in contact with its feed (a fetch round-trip, a heartbeat). */
  alive(): void;
  /** Everything that existed when the source started has been delivered. */
  caughtUp(): void;
  error(err: unknown): void;
}

export interface RunningSource {
  close(): Promise<void>;
}

export async function startKafkaSource(o: KafkaWatchOptions, maxWaitMs: number, sink: SourceSink): Promise<RunningSource> {
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

  // Caught up once every partition reached the end it had when we started.
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<number, bigint>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const high = BigInt(p.high);
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

  consumer.on(consumer.events.FETCH, () => sink.alive());
  consumer.on(consumer.events.CRASH, (e) => sink.error(e.payload.error));
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // Sync handler wrapped in a resolved promise: nothing here awaits.
      eachMessage: ({ partition, message }) => {
        if (message.value !== null) {
          try {
            const ev = JSON.parse(message.value.toString('utf8')) as RevocationEvent;
            if (ev && typeof ev === 'object' && typeof ev.type === 'string') sink.event(ev, partition, message.offset);
          } catch (err) {
            sink.error(err);
          }
        }
        const end = remaining.get(partition);
        if (end !== undefined && BigInt(message.offset) + 1n >= end) {
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
    close: async () => {
      await consumer.disconnect().catch(() => undefined);
    },
  };
}
