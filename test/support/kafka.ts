// Kafka test helpers: the broker from LEDGER_TEST_KAFKA_BROKERS, unique topics, a topic reader that waits on
// conditions (never on fixed sleeps), and the broker script for restart tests.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { HEARTBEAT_TYPE } from '../../clients/protocol.js';
import { waitUntil } from './async.js';
import type { TestServer } from './server.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function testBrokers(): string[] | null {
  const raw = process.env.LEDGER_TEST_KAFKA_BROKERS?.trim();
  return raw
    ? raw
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean)
    : null;
}

export const SKIP_REASON =
  'LEDGER_TEST_KAFKA_BROKERS is not set (start a broker with `npm run kafka:start` and set LEDGER_TEST_KAFKA_BROKERS=127.0.0.1:19092)';

/** A describe block that runs only with a broker; otherwise one pending test says why. */
export function describeKafka(title: string, body: (brokers: string[]) => void): void {
  const brokers = testBrokers();
  describe(title, function () {
    if (brokers === null) {
      it(`skipped: ${SKIP_REASON}`);
      return;
    }
    body(brokers);
  });
}

export function uniqueTopics(label: string): { events: string; revocations: string } {
  const id = `${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  return { events: `test.${id}.events`, revocations: `test.${id}.revocations` };
}

export interface ReadMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly headers: Record<string, string>;
  readonly value: any;
}

/** Waits until the publisher's acknowledged checkpoint reaches the log's head (read from the store, not polled). */
export async function publisherCaughtUp(s: TestServer, timeoutMs = 15_000): Promise<void> {
  const head = await s.running.ledger.store.headPosition();
  await waitUntil(
    async () =>
      Number(
        /^ledger_publisher_checkpoint_position (-?\d+)$/m.exec((await s.request('GET', '/metrics')).text)?.[1] ?? -1,
      ) >= head,
    timeoutMs,
    `the publisher to acknowledge position ${head}`,
  );
}

/** Reads topics from the beginning into memory, for assertions. */
export class TopicReader {
  readonly messages: ReadMessage[] = [];
  private consumer: Consumer | null = null;

  private constructor(private readonly kafka: Kafka) {}

  static async start(brokers: string[], topics: string[]): Promise<TopicReader> {
    const kafka = new Kafka({
      clientId: 'test-reader',
      brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      retry: { retries: 1000, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const r = new TopicReader(kafka);
    // Topics may not exist yet: create them, so the subscription does not race the publisher.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: topics.map((topic) => ({ topic })), waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({
      groupId: `test-reader-${randomBytes(6).toString('hex')}`,
      maxWaitTimeInMs: 100,
      retry: { retries: 1000, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    r.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {}))
          if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : String(v);
        r.messages.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key ? message.key.toString('utf8') : null,
          headers,
          value: message.value ? JSON.parse(message.value.toString('utf8')) : null,
        });
      },
    });
    await waitUntil(() => joined, 15_000, 'the test consumer to join its group');
    return r;
  }

  on(topic: string): ReadMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** The topic's messages without the publisher's heartbeats. */
  events(topic: string): ReadMessage[] {
    return this.on(topic).filter((m) => m.value?.type !== HEARTBEAT_TYPE);
  }

  heartbeats(topic: string): ReadMessage[] {
    return this.on(topic).filter((m) => m.value?.type === HEARTBEAT_TYPE);
  }

  /** Distinct events (heartbeats left out) by CloudEvent id, first occurrence wins (at-least-once: duplicates allowed). */
  distinct(topic: string): ReadMessage[] {
    const seen = new Set<string>();
    return this.events(topic).filter((m) => {
      const id = String(m.value?.id);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  /** Ledger positions 1..head not yet seen on `topic`. */
  missingPositions(topic: string, head: number): number[] {
    const seen = new Set(this.on(topic).map((m) => m.value?.ledgerposition as number));
    return Array.from({ length: head }, (_, i) => i + 1).filter((p) => !seen.has(p));
  }

  /**
   * Waits until every position up to `head` is on `topic`, then returns those still missing (none when no gap).
   * A topic's partitions reach the reader in no set order, so the head's message may arrive before another's.
   */
  async positionsMissingAfterWait(topic: string, head: number, timeoutMs: number): Promise<number[]> {
    await waitUntil(() => this.missingPositions(topic, head).length === 0, timeoutMs, 'every ledger position').catch(
      () => undefined,
    );
    return this.missingPositions(topic, head);
  }

  async waitFor(cond: (r: TopicReader) => boolean, timeoutMs: number, what: string): Promise<void> {
    await waitUntil(() => cond(this), timeoutMs, what);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
  }
}

/** Runs scripts/kafka/kafka.sh with a bound on its duration. */
export function kafkaScript(
  cmd: 'start' | 'stop' | 'status',
  timeoutMs = 120_000,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['scripts/kafka/kafka.sh', cmd], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kafka.sh ${cmd} took longer than ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}
