// Outbox by construction: the ledger's own log is the outbox. The publisher reads it in order, sends each
// event (and its revocation-class fan-out) to the message bus, and moves its checkpoint only after the bus
// acknowledged. No dual write, at-least-once, ordered per key; a bus outage never touches an API call.
import type { StoredEvent } from '../../events/catalog.js';
import { toStoredEvent } from '../../events/serialization.js';
import type { EventStore, RecordedEvent, Subscription } from '../../events/store/types.js';
import type { Metrics } from '../http/metrics.js';
import type { MessageSink, OutgoingMessage } from './bus.js';
import type { CheckpointStore } from './checkpoint.js';
import { DEFAULT_SOURCE, ledgerCloudEvent, revocationCloudEvents, toMessage } from './cloudevents.js';
import { RevocationIndex } from './fanout.js';

export type LogFn = (level: 'error' | 'warn' | 'info' | 'debug', msg: string, extra?: Record<string, unknown>) => void;

export interface PublisherOptions {
  readonly store: EventStore;
  readonly sink: MessageSink;
  readonly checkpoints: CheckpointStore;
  readonly eventsTopic: string;
  readonly revocationsTopic: string;
  /** Checkpoint row name; defaults to one derived from the topics, so new topics start from the beginning. */
  readonly checkpointName?: string;
  readonly source?: string;
  /** Upper bound of messages per send (a single event's fan-out is never split). */
  readonly maxBatchMessages?: number;
  /** Events read ahead of Kafka before the reader waits. */
  readonly maxPendingEvents?: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly metrics?: Metrics;
  readonly log?: LogFn;
}

interface Pending {
  readonly position: number;
  readonly occurredAt: number;
  readonly messages: OutgoingMessage[];
}

export type PublisherState = 'starting' | 'publishing' | 'retrying' | 'stopped';

export interface PublisherStatus {
  readonly state: PublisherState;
  readonly checkpoint: number;
  readonly head: number;
  readonly lagEvents: number;
  readonly lagSeconds: number;
  readonly connected: boolean;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  readonly published: number;
}

export class KafkaPublisher {
  readonly checkpointName: string;
  private readonly o: Required<Omit<PublisherOptions, 'metrics' | 'log' | 'checkpointName'>> & Pick<PublisherOptions, 'metrics'>;
  private readonly log: LogFn;
  private index = new RevocationIndex();
  private pending: Pending[] = [];
  private sub: Subscription | null = null;
  private loop: Promise<void> | null = null;
  private headTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private connected = false;
  private state: PublisherState = 'starting';
  private checkpoint = -1;
  private head = -1;
  private published = 0;
  private lastError: string | null = null;
  private lastErrorAt: string | null = null;
  private wakeSender: (() => void) | null = null;
  private roomWaiters: Array<() => void> = [];
  private sleepAbort: AbortController | null = null;
  private resubscribing = false;

  constructor(opts: PublisherOptions) {
    this.o = {
      source: DEFAULT_SOURCE,
      maxBatchMessages: 500,
      maxPendingEvents: 5000,
      backoff: { initialMs: 100, maxMs: 5000 },
      ...opts,
    };
    this.checkpointName = opts.checkpointName ?? `kafka:${opts.eventsTopic}:${opts.revocationsTopic}`;
    this.log = opts.log ?? (() => undefined);
    const m = opts.metrics;
    if (m) {
      m.gauge('ledger_publisher_checkpoint_position', 'Last ledger position the message bus acknowledged', () => this.checkpoint);
      m.gauge('ledger_publisher_lag_events', 'Ledger events not yet acknowledged by the message bus', () => this.lagEvents());
      m.gauge('ledger_publisher_lag_seconds', 'Age of the oldest ledger event waiting for the message bus', () => this.lagSeconds());
      m.gauge('ledger_publisher_up', '1 while the publisher is connected and its last send succeeded', () =>
        this.connected && this.lastError === null ? 1 : 0,
      );
    }
  }

  /** Starts reading the log and publishing in the background; never waits for the bus. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.checkpoint = this.o.checkpoints.get(this.checkpointName);
    this.log('info', 'publisher starting', { checkpoint: this.checkpoint, name: this.checkpointName });
    this.subscribe();
    this.loop = this.run();
    const pollHead = (): void => {
      this.o.store.headPosition().then(
        (h) => {
          if (h > this.head) this.head = h;
        },
        () => undefined,
      );
    };
    pollHead();
    this.headTimer = setInterval(pollHead, 1000);
    this.headTimer.unref();
  }

  status(): PublisherStatus {
    return {
      state: this.state,
      checkpoint: this.checkpoint,
      head: this.head,
      lagEvents: this.lagEvents(),
      lagSeconds: this.lagSeconds(),
      connected: this.connected,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      published: this.published,
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.headTimer) clearInterval(this.headTimer);
    this.releaseRoom();
    this.wakeSender?.();
    this.sleepAbort?.abort();
    await this.sub?.close();
    this.sub = null;
    // An in-flight send gets a moment to finish (so its checkpoint is kept); then the connection is dropped.
    const loop = this.loop ?? Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([loop, new Promise<void>((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    await this.o.sink.close().catch(() => undefined);
    await loop;
    this.loop = null;
    this.connected = false;
    this.state = 'stopped';
  }

  private lagEvents(): number {
    return Math.max(0, this.head - this.checkpoint);
  }

  private lagSeconds(): number {
    const first = this.pending[0];
    return first ? Math.max(0, (Date.now() - first.occurredAt) / 1000) : 0;
  }

  /** Replays the whole log into the fan-out index; only events after the checkpoint are queued for sending. */
  private subscribe(): void {
    this.index = new RevocationIndex();
    this.sub = this.o.store.subscribeAll((r) => this.onEvent(r), {
      after: -1,
      onError: (err) => {
        this.fail(err, 'reading the ledger failed');
        void this.resubscribe();
      },
    });
  }

  private async resubscribe(): Promise<void> {
    if (this.resubscribing || this.stopping) return;
    this.resubscribing = true;
    try {
      await this.sub?.close().catch(() => undefined);
      await this.sleep(this.o.backoff.maxMs);
      if (!this.stopping) this.subscribe();
    } finally {
      this.resubscribing = false;
    }
  }

  private onEvent(r: RecordedEvent): void | Promise<void> {
    if (r.position > this.head) this.head = r.position;
    const e: StoredEvent | null = toStoredEvent(r);
    const items = e ? this.index.apply(e) : [];
    if (r.position <= this.checkpoint) return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.position >= r.position) return; // a replay after a read failure: already queued
    const messages: OutgoingMessage[] = [];
    if (e) {
      messages.push(toMessage(this.o.eventsTopic, ledgerCloudEvent(e, this.o.source)));
      for (const ce of revocationCloudEvents(e, items, this.o.source)) messages.push(toMessage(this.o.revocationsTopic, ce));
    }
    this.pending.push({ position: r.position, occurredAt: e ? Date.parse(e.metadata.occurredAt) : Date.now(), messages });
    this.wakeSender?.();
    if (this.pending.length >= this.o.maxPendingEvents && !this.stopping) return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private releaseRoom(): void {
    const ws = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of ws) w();
  }

  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let n = 0;
    for (const p of this.pending) {
      if (batch.length > 0 && n + p.messages.length > this.o.maxBatchMessages) break;
      batch.push(p);
      n += p.messages.length;
    }
    return batch;
  }

  private async run(): Promise<void> {
    let backoff = this.o.backoff.initialMs;
    while (!this.stopping) {
      if (this.pending.length === 0) {
        await new Promise<void>((resolve) => (this.wakeSender = resolve));
        this.wakeSender = null;
        continue;
      }
      const batch = this.takeBatch();
      const messages = batch.flatMap((p) => p.messages);
      const lastPos = batch[batch.length - 1]!.position;
      try {
        if (!this.connected) {
          await this.o.sink.connect();
          this.connected = true;
          this.log('info', 'publisher connected', { checkpoint: this.checkpoint });
        }
        if (messages.length > 0) await this.o.sink.send(messages);
        this.o.checkpoints.set(this.checkpointName, lastPos);
        this.checkpoint = lastPos;
        while (this.pending[0] && this.pending[0].position <= lastPos) this.pending.shift();
        this.published += messages.length;
        this.count(batch, messages);
        if (this.lastError !== null) this.log('info', 'publisher recovered', { checkpoint: lastPos });
        this.lastError = null;
        this.state = 'publishing';
        backoff = this.o.backoff.initialMs;
        if (this.pending.length < this.o.maxPendingEvents / 2) this.releaseRoom();
      } catch (err) {
        if (this.stopping) break;
        this.fail(err, 'publishing failed; retrying');
        this.connected = false;
        await this.o.sink.reset().catch(() => undefined);
        await this.sleep(backoff);
        backoff = Math.min(this.o.backoff.maxMs, backoff * 2);
      }
    }
  }

  private count(batch: readonly Pending[], messages: readonly OutgoingMessage[]): void {
    const m = this.o.metrics;
    if (!m) return;
    let revocations = 0;
    for (const msg of messages) if (msg.topic === this.o.revocationsTopic) revocations++;
    const events = messages.length - revocations;
    const help = 'Messages acknowledged by the message bus';
    if (events > 0) m.inc('ledger_publisher_messages_total', help, { topic: this.o.eventsTopic }, events);
    if (revocations > 0) m.inc('ledger_publisher_messages_total', help, { topic: this.o.revocationsTopic }, revocations);
    const now = Date.now();
    for (const p of batch)
      m.observe('ledger_publisher_delivery_seconds', 'Time from a ledger event to its acknowledgement by the bus', {}, Math.max(0, now - p.occurredAt) / 1000);
  }

  private fail(err: unknown, msg: string): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    this.lastErrorAt = new Date().toISOString();
    this.state = 'retrying';
    this.o.metrics?.inc('ledger_publisher_errors_total', 'Failed sends and log reads (each is retried)');
    this.log('warn', msg, { err: this.lastError, checkpoint: this.checkpoint });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const ac = new AbortController();
      this.sleepAbort = ac;
      const t = setTimeout(resolve, ms);
      ac.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
