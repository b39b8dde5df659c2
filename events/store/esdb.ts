// EventStoreDB adapter (gRPC client v6). Speaks only our EventStore types: no client type or error leaves events/store/esdb*.
//
// Mapping:
// - `position` is the event's $all commit position (bigint -> number): a byte offset of a record in the server's log,
//   sparse. Events written over gRPC are each their own committed record (commit === prepare); events of a legacy TCP
//   transaction share one commit position and are refused loudly rather than skipped (see records.ts).
// - `revision` is the stream revision (bigint -> number).
// - System events (type or stream starting with `$`) and lease records (streams `ledger-lease-*`, esdb/leases.ts) never
//   reach callers: readAll, subscribeAll, firstEventAtOrAfter and headPosition all apply the same `isUserEvent`
//   predicate, so the hash chain, projections and audit never see them; appending to a lease stream is a TypeError.
// - The server's version is checked before the first call (22.6 or newer: stream reads carry positions).
// - Appends: esdb/append.ts (idempotency), sent with the client's unary Append, never its batchAppend (esdb/wire.ts).
import { FORWARDS, StreamNotFoundError } from '@eventstore/db-client';
import type { RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import { StoreUnavailableError } from '../errors.js';
import { EsdbAppender } from './esdb/append.js';
import { translateEsdbError } from './esdb/errors.js';
import { isLeaseStream, positionOf, sharedCommit, toEventData, toRecorded } from './esdb/records.js';
import { AllScanner } from './esdb/scan.js';
import { EsdbSubscription, type SubscriptionSource } from './esdb/subscription.js';
import { checkServerVersion, connect, wireOf, type EsdbClientLike, type EsdbWire } from './esdb/wire.js';
import type {
  AppendResult,
  EventHandler,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllPage,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from './types.js';

export { translateEsdbError } from './esdb/errors.js';
export type { EsdbClientLike } from './esdb/wire.js';

export interface EsdbStoreOptions {
  /** How many of a stream's newest events an `any`/`stream_exists` append searches for its own ids (see types.ts). */
  readonly idempotencyWindow?: number;
  /** How many appends whose outcome is unknown this instance remembers, to retry them exactly where they were tried. */
  readonly inDoubtCapacity?: number;
  /** Raw events fetched per server read when paging $all (system events are filtered client-side). */
  readonly scanChunk?: number;
  /** Events fetched per server read of one stream (reads are always paged). */
  readonly streamPageSize?: number;
  /** Consecutive failed (re)subscribe attempts before a subscription gives up and reports through onError. */
  readonly maxResubscribeAttempts?: number;
  /** Test seam: use this client instead of connecting to `url`. */
  readonly client?: EsdbClientLike;
}

export class EsdbEventStore implements EventStore {
  readonly kind = 'esdb';
  private readonly wire: EsdbWire;
  private readonly appender: EsdbAppender;
  private readonly all: AllScanner;
  private readonly streamPageSize: number;
  private readonly maxResubscribeAttempts: number;
  private closed = false;
  private connecting: Promise<void> | null = null;
  private readonly subs = new Set<Subscription>();

  constructor(url: string, opts: EsdbStoreOptions = {}) {
    this.wire = opts.client ? (opts.client as unknown as EsdbWire) : wireOf(connect(url));
    this.appender = new EsdbAppender(this.wire, {
      idempotencyWindow: Math.max(1, opts.idempotencyWindow ?? 50),
      inDoubtCapacity: Math.max(1, opts.inDoubtCapacity ?? 50_000),
    });
    this.all = new AllScanner(this.wire, Math.max(2, opts.scanChunk ?? 500));
    this.streamPageSize = Math.max(1, opts.streamPageSize ?? 500);
    this.maxResubscribeAttempts = opts.maxResubscribeAttempts ?? 10;
  }

  /** Checks the server once before the first call; a failure that may pass (unreachable) is checked again next time. */
  private async connected(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('store is closed', null, false);
    this.connecting ??= this.wire.serverVersion().then(checkServerVersion, (err: unknown) => {
      const e = translateEsdbError(err, 'connect');
      if (e.retriable) this.connecting = null;
      throw e;
    });
    await this.connecting;
  }

  /** See esdb/append.ts; an event that cannot be stored is a TypeError before anything is sent. */
  async append(
    streamId: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision = 'any',
  ): Promise<AppendResult> {
    if (this.closed) throw new StoreUnavailableError('store is closed', null, false);
    if (events.length === 0) throw new TypeError('append needs at least one event');
    if (isLeaseStream(streamId)) throw new TypeError(`stream ${streamId} is reserved for leases`);
    const data = events.map(toEventData);
    await this.connected();
    return this.appender.append(streamId, events, data, expectedRevision);
  }

  /** Raw stream read; a missing stream reads as empty. */
  private async readStreamRaw(streamId: string, fromRevision: bigint, maxCount: number): Promise<EsdbRecordedEvent[]> {
    const out: EsdbRecordedEvent[] = [];
    try {
      const stream = this.wire.readStream(streamId, {
        fromRevision,
        maxCount,
        direction: FORWARDS,
        resolveLinkTos: false,
      });
      for await (const resolved of stream) if (resolved.event) out.push(resolved.event);
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw translateEsdbError(err, 'readStream');
    }
    return out;
  }

  /** Paged: each server read asks for at most `streamPageSize` events, converted as they arrive. */
  async readStream(
    streamId: string,
    opts: { fromRevision?: number; maxCount?: number } = {},
  ): Promise<RecordedEvent[]> {
    await this.connected();
    let left = opts.maxCount ?? Number.MAX_SAFE_INTEGER;
    let from = BigInt(Math.max(0, Math.trunc(opts.fromRevision ?? 0)));
    const out: RecordedEvent[] = [];
    while (left > 0) {
      const want = Math.min(left, this.streamPageSize);
      const page = await this.readStreamRaw(streamId, from, want);
      for (const ev of page) {
        const position = positionOf(ev);
        if (out.length > 0 && out[out.length - 1]!.position === position) throw sharedCommit(position);
        out.push(toRecorded(ev, position));
      }
      if (page.length < want) break;
      left -= page.length;
      from = page[page.length - 1]!.revision + 1n;
    }
    return out;
  }

  /** Pages $all after `after` (see esdb/scan.ts); system events are dropped but still advance `lastPosition`. */
  async readAll(opts: { after: number; maxCount: number }): Promise<ReadAllPage> {
    await this.connected();
    return this.all.readAll(opts.after, opts.maxCount);
  }

  async firstEventAtOrAfter(position: number): Promise<RecordedEvent | null> {
    await this.connected();
    return this.all.firstAtOrAfter(position);
  }

  /** Newest non-system event's position, scanning $all backwards past system records. */
  async headPosition(): Promise<number> {
    await this.connected();
    return this.all.headPosition();
  }

  /** A server-side catch-up subscription to $all; see esdb/subscription.ts. */
  subscribeAll(handler: EventHandler, opts: SubscribeOptions = {}): Subscription {
    if (this.closed) throw new StoreUnavailableError('store is closed', null, false);
    const source: SubscriptionSource = {
      wire: this.wire,
      headPosition: () => this.headPosition(),
      probe: (position) => this.all.probe(position),
      maxResubscribeAttempts: this.maxResubscribeAttempts,
    };
    const sub = new EsdbSubscription(source, handler, opts, () => this.subs.delete(sub));
    this.subs.add(sub);
    return sub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subs].map((s) => s.close()));
    await this.wire.dispose().catch(() => undefined);
  }
}

export function createEsdbStore(url: string, opts: EsdbStoreOptions = {}): EventStore {
  return new EsdbEventStore(url, opts);
}
