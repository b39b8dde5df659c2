// Outbox by construction: the ledger's own log is the outbox. The publisher reads it in order, sends each
// event (and its revocation-class fan-out) to the message bus, and moves its checkpoint only after the bus
// acknowledged. No dual write, at-least-once, ordered per key; a bus outage never touches an API call.
// Every heartbeatMs it also sends a heartbeat on the revocations topic, after everything acknowledged before it,
// so watchers can tell a live publisher from a stalled one even while the broker itself is up.
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Counter, Histogram } from 'prom-client';
import { occurredAt, type StoredEvent } from '../../events/catalog.js';
import { toStoredEvent } from '../../events/serialization.js';
import { START, type EventStore, type RecordedEvent, type Subscription } from '../../events/store/types.js';
import type { Metrics } from '../metrics/registry.js';
import type { MessageSink, OutgoingMessage } from '../revocations/bus.js';
import type { CheckpointStore } from '../revocations/checkpoint.js';
import {
  DEFAULT_SOURCE,
  heartbeatCloudEvent,
  ledgerCloudEvent,
  revocationCloudEvents,
} from '../../projections/revocations/cloudevents.js';
import { toMessage } from '../revocations/kafka-message.js';
import { RevocationIndex } from '../../projections/revocations/fanout.js';

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
  /** Heartbeat interval on the revocations topic (default 5000 ms). */
  readonly heartbeatMs?: number;
  /** How often the log's head position is polled, for the lag figures (default 1000 ms). */
  readonly headPollMs?: number;
  /** Its counters and delivery histogram; the gauges are publisherGauges', read from status(). */
  readonly metrics?: Metrics;
  readonly log?: LogFn;
  /**
   * The fan-out index at some position no later than `atMost` (the checkpoint), e.g. from the revocation-feed snapshot,
   * so a start replays the log from there instead of from the beginning; null: replay everything.
   */
  readonly restoreIndex?: (atMost: number) => Promise<{ index: RevocationIndex; position: number } | null>;
}

interface Pending {
  readonly position: number;
  readonly occurredAt: number;
  readonly messages: OutgoingMessage[];
}

interface PublisherMeters {
  readonly messages: Counter<'topic'>;
  readonly heartbeats: Counter;
  readonly errors: Counter;
  readonly delivery: Histogram;
}

export type PublisherState = 'starting' | 'publishing' | 'retrying' | 'stopped';

export interface PublisherStatus {
  readonly state: PublisherState;
  readonly checkpoint: number;
  readonly head: number;
  /** Ledger events read from the log and not yet acknowledged by the bus. */
  readonly lagEvents: number;
  /** head − checkpoint in the store's position unit (SQLite: events; EventStoreDB: bytes of its log). */
  readonly lagPositions: number;
  /** Age of the oldest ledger event waiting for the bus. */
  readonly lagSeconds: number;
  /** How long the oldest unacknowledged head position has been known (what heartbeats report as lagMs). */
  readonly lagMs: number;
  /** The log reader has caught up and is healthy (heartbeats are sent only then). */
  readonly readerOk: boolean;
  readonly lastHeartbeatAt: string | null;
  readonly connected: boolean;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  readonly published: number;
}

/** What a lease holder runs: the publisher itself, or the child process that runs it (publisher-process.ts). */
export interface PublisherHandle {
  /** Starts publishing in the background; never waits for the bus. */
  start(): void;
  /** Resolves once nothing more will be published. */
  stop(): Promise<void>;
  status(): PublisherStatus;
}

export class KafkaPublisher implements PublisherHandle {
  readonly checkpointName: string;
  private readonly o: Required<Omit<PublisherOptions, 'metrics' | 'log' | 'checkpointName' | 'restoreIndex'>> &
    Pick<PublisherOptions, 'metrics' | 'restoreIndex'>;
  private readonly log: LogFn;
  private readonly meters: PublisherMeters | null;
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
  /** Aborted by stop(): every backoff sleep (sender and reader) ends at once. */
  private stopSignal = new AbortController();
  private resubscribing = false;
  /** The log reader has caught up and not failed since; until then no heartbeat can vouch for the topic. */
  private readerOk = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatDue = false;
  private lastHeartbeatAt: number | null = null;
  /** Head positions not yet acknowledged, each with when it was first seen (coarsened to 100 ms slots). */
  private unacked: Array<{ head: number; at: number }> = [];

  constructor(opts: PublisherOptions) {
    this.o = {
      source: DEFAULT_SOURCE,
      maxBatchMessages: 500,
      maxPendingEvents: 5000,
      backoff: { initialMs: 100, maxMs: 5000 },
      heartbeatMs: 5000,
      headPollMs: 1000,
      ...opts,
    };
    this.checkpointName = opts.checkpointName ?? `kafka:${opts.eventsTopic}:${opts.revocationsTopic}`;
    this.log = opts.log ?? (() => undefined);
    const m = opts.metrics;
    this.meters = m
      ? {
          messages: m.counter('ledger_publisher_messages_total', 'Messages acknowledged by the message bus', ['topic']),
          heartbeats: m.counter('ledger_publisher_heartbeats_total', 'Heartbeats acknowledged by the message bus'),
          errors: m.counter('ledger_publisher_errors_total', 'Failed sends and log reads (each is retried)'),
          delivery: m.histogram(
            'ledger_publisher_delivery_seconds',
            'Time from a ledger event to its acknowledgement by the bus',
          ),
        }
      : null;
  }

  /**
   * Starts reading the log and publishing in the background, from the stored checkpoint; never waits for the bus.
   * A stopped publisher may start again (a lease holder that lost its lease and got it back): it re-reads the checkpoint.
   */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.stopSignal = new AbortController();
    this.pending = [];
    this.unacked = [];
    this.head = -1;
    this.readerOk = false;
    this.heartbeatDue = false;
    this.state = 'starting';
    this.loop = this.begin();
    const pollHead = (): void => {
      this.o.store.headPosition().then(
        (h) => this.observeHead(h),
        () => undefined,
      );
    };
    pollHead();
    this.headTimer = setInterval(pollHead, this.o.headPollMs);
    this.headTimer.unref();
    this.heartbeatTimer = setInterval(() => {
      this.heartbeatDue = true;
      this.wakeSender?.();
    }, this.o.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /** Reads the checkpoint (a shared one may be briefly unreachable: retried), then reads the log and sends. */
  private async begin(): Promise<void> {
    let backoff = this.o.backoff.initialMs;
    for (;;) {
      try {
        this.checkpoint = await this.o.checkpoints.get(this.checkpointName);
        break;
      } catch (err) {
        if (this.stopping) return;
        this.fail(err, 'reading the publisher checkpoint failed; retrying');
        await this.sleep(backoff);
        backoff = Math.min(this.o.backoff.maxMs, backoff * 2);
      }
    }
    if (this.stopping) return;
    this.state = 'starting';
    this.log('info', 'publisher starting', {
      checkpoint: this.checkpoint,
      name: this.checkpointName,
      heartbeatMs: this.o.heartbeatMs,
    });
    await this.subscribe();
    await this.run();
  }

  status(): PublisherStatus {
    return {
      state: this.state,
      checkpoint: this.checkpoint,
      head: this.head,
      lagEvents: this.pending.length,
      lagPositions: this.lagPositions(),
      lagSeconds: this.lagSeconds(),
      lagMs: this.lagMs(),
      readerOk: this.readerOk,
      lastHeartbeatAt: this.lastHeartbeatAt === null ? null : new Date(this.lastHeartbeatAt).toISOString(),
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
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.releaseRoom();
    this.wakeSender?.();
    this.stopSignal.abort();
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

  private lagPositions(): number {
    return Math.max(0, this.head - this.checkpoint);
  }

  /** A head position seen in the log (polled, or read): remembered with the time, until acknowledged. */
  private observeHead(position: number): void {
    if (position > this.head) this.head = position;
    if (position <= this.checkpoint) return;
    const now = Date.now();
    const last = this.unacked[this.unacked.length - 1];
    if (last && position <= last.head) return;
    // One entry per 100 ms keeps the list short under load; the later position inherits the earlier time.
    if (last && now - last.at < 100) this.unacked[this.unacked.length - 1] = { head: position, at: last.at };
    else this.unacked.push({ head: position, at: now });
  }

  private acknowledged(position: number): void {
    while (this.unacked[0] && this.unacked[0].head <= position) this.unacked.shift();
  }

  /** Catches a stalled reader too: a head the poll saw but the reader never delivered keeps ageing. */
  private lagMs(): number {
    const now = Date.now();
    const first = this.pending[0];
    const oldest = this.unacked[0];
    return Math.max(first ? now - first.occurredAt : 0, oldest ? now - oldest.at : 0, 0);
  }

  private lagSeconds(): number {
    const first = this.pending[0];
    return first ? Math.max(0, (Date.now() - first.occurredAt) / 1000) : 0;
  }

  /**
   * Replays the log into the fan-out index, from a restored index when there is one at or before the checkpoint (else
   * from the beginning); only events after the checkpoint are queued for sending.
   */
  private async subscribe(): Promise<void> {
    this.readerOk = false;
    const restored = await this.restoredIndex();
    if (this.stopping) return;
    this.index = restored?.index ?? new RevocationIndex();
    const sub = this.o.store.subscribeAll((r) => this.onEvent(r), {
      after: restored?.position ?? START,
      onError: (err) => {
        this.readerOk = false;
        this.fail(err, 'reading the ledger failed');
        void this.resubscribe();
      },
    });
    this.sub = sub;
    sub.caughtUp.then(
      () => {
        if (this.sub !== sub || this.stopping) return;
        // Everything the log held is queued (with its real age): the first heartbeat can go out now.
        this.readerOk = true;
        this.heartbeatDue = true;
        this.wakeSender?.();
      },
      () => undefined,
    );
  }

  private async restoredIndex(): Promise<{ index: RevocationIndex; position: number } | null> {
    if (this.o.restoreIndex === undefined) return null;
    try {
      const restored = await this.o.restoreIndex(this.checkpoint);
      if (restored === null || restored.position > this.checkpoint) return null; // later items would go unpublished
      this.log('info', 'publisher index restored', { position: restored.position, checkpoint: this.checkpoint });
      return restored;
    } catch (err) {
      // A snapshot that cannot be read costs a full replay, never a stopped publisher.
      this.log('warn', 'restoring the fan-out index failed; replaying the log from the start', {
        err: err instanceof Error ? err.message : String(err),
      });
      return null;
    }
  }

  private async resubscribe(): Promise<void> {
    if (this.resubscribing || this.stopping) return;
    this.resubscribing = true;
    try {
      await this.sub?.close().catch(() => undefined);
      await this.sleep(this.o.backoff.maxMs);
      if (!this.stopping) await this.subscribe();
    } finally {
      this.resubscribing = false;
    }
  }

  private onEvent(r: RecordedEvent): void | Promise<void> {
    this.observeHead(r.position);
    const e: StoredEvent | null = toStoredEvent(r);
    const items = e ? this.index.apply(e) : [];
    if (r.position <= this.checkpoint) return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.position >= r.position) return; // a replay after a read failure: already queued
    const messages: OutgoingMessage[] = [];
    if (e) {
      messages.push(toMessage(this.o.eventsTopic, ledgerCloudEvent(e, this.o.source)));
      for (const ce of revocationCloudEvents(e, items, this.o.source))
        messages.push(toMessage(this.o.revocationsTopic, ce));
    }
    this.pending.push({
      position: r.position,
      occurredAt: e ? occurredAt(e) : Date.now(),
      messages,
    });
    this.wakeSender?.();
    if (this.pending.length >= this.o.maxPendingEvents && !this.stopping)
      return new Promise((resolve) => this.roomWaiters.push(resolve));
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
      // A reader that failed or has not caught up cannot vouch that nothing is missing: no heartbeat then.
      const beat = this.heartbeatDue && this.readerOk;
      if (this.pending.length === 0 && !beat) {
        this.heartbeatDue = false;
        await new Promise<void>((resolve) => (this.wakeSender = resolve));
        this.wakeSender = null;
        continue;
      }
      const batch = this.takeBatch();
      const messages = batch.flatMap((p) => p.messages);
      try {
        if (!this.connected) {
          await this.o.sink.connect();
          this.connected = true;
          this.log('info', 'publisher connected', { checkpoint: this.checkpoint });
        }
        const last = batch[batch.length - 1];
        if (last) {
          if (messages.length > 0) await this.o.sink.send(messages);
          await this.o.checkpoints.set(this.checkpointName, last.position);
          this.checkpoint = last.position;
          this.acknowledged(last.position);
          while (this.pending[0] && this.pending[0].position <= last.position) this.pending.shift();
          this.published += messages.length;
          this.count(batch, messages);
        }
        // Sent on its own, after the batch was acknowledged, so what it reports is already on the topics.
        if (beat) {
          this.heartbeatDue = false;
          await this.o.sink.send([this.heartbeat()]);
          this.lastHeartbeatAt = Date.now();
          this.meters?.heartbeats.inc();
        }
        if (this.lastError !== null) this.log('info', 'publisher recovered', { checkpoint: this.checkpoint });
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

  private heartbeat(): OutgoingMessage {
    const data = {
      checkpoint: this.checkpoint,
      head: Math.max(this.head, this.checkpoint),
      lagEvents: this.pending.length,
      lagMs: Math.round(this.lagMs()),
      intervalMs: this.o.heartbeatMs,
    };
    return toMessage(this.o.revocationsTopic, heartbeatCloudEvent(data, randomUUID(), new Date(), this.o.source));
  }

  private count(batch: readonly Pending[], messages: readonly OutgoingMessage[]): void {
    const m = this.meters;
    if (!m) return;
    let revocations = 0;
    for (const msg of messages) if (msg.topic === this.o.revocationsTopic) revocations++;
    const events = messages.length - revocations;
    if (events > 0) m.messages.inc({ topic: this.o.eventsTopic }, events);
    if (revocations > 0) m.messages.inc({ topic: this.o.revocationsTopic }, revocations);
    const now = Date.now();
    for (const p of batch) m.delivery.observe(Math.max(0, now - p.occurredAt) / 1000);
  }

  private fail(err: unknown, msg: string): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    this.lastErrorAt = new Date().toISOString();
    this.state = 'retrying';
    this.meters?.errors.inc();
    this.log('warn', msg, { err: this.lastError, checkpoint: this.checkpoint });
  }

  /** A backoff wait that stop() cuts short; any number may be pending at once (sender and reader). */
  private async sleep(ms: number): Promise<void> {
    const signal = this.stopSignal.signal;
    try {
      await delay(ms, undefined, { signal });
    } catch (err) {
      // Only stop()'s abort ends a wait early; anything else is a real failure.
      if (!(signal.aborted && (err as Error).name === 'AbortError')) throw err;
    }
  }
}
