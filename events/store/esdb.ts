// EventStoreDB adapter (gRPC client v6). Speaks only our EventStore types: no client type or error leaves this file.
//
// Mapping:
// - `position` is the event's $all commit position (bigint -> number). For gRPC appends every event is its own
//   implicitly committed record, so commit === prepare and positions are distinct and increasing.
// - `revision` is the stream revision (bigint -> number).
// - System events (type or stream starting with `$`) never reach callers: readAll, subscribeAll and headPosition
//   all apply the same `isUserEvent` predicate.
import {
  BACKWARDS,
  CancelledError,
  DeadlineExceededError,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  NotLeaderError,
  START,
  STREAM_EXISTS,
  ANY,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  convertToCommandError,
  excludeSystemEvents,
  jsonEvent,
} from '@eventstore/db-client';
import type {
  AllStreamResolvedEvent,
  AllStreamSubscription,
  AppendExpectedRevision,
  Direction,
  EventData,
  JSONType,
  ReadPosition,
  RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import { setTimeout as delay } from 'node:timers/promises';
import { ConcurrencyError, IdempotencyError, LedgerError, StoreUnavailableError } from '../errors.js';
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
import { serializeEvent } from './types.js';

/**
 * The client calls this adapter makes, stated structurally so that no client type leaves this file: an
 * `EventStoreDBClient` fits, and so does a test stand-in. Arguments and results are the client's own.
 */
export interface EsdbClientLike {
  appendToStream(...args: never[]): Promise<unknown>;
  readStream(...args: never[]): AsyncIterable<unknown>;
  readAll(...args: never[]): AsyncIterable<unknown>;
  subscribeToAll(...args: never[]): AsyncIterable<unknown>;
  dispose(): Promise<void>;
}

export interface EsdbStoreOptions {
  /** How many recently written event ids to remember for the cross-stream id-reuse check (see `append`). */
  readonly recentIdCapacity?: number;
  /** Raw events fetched per server read when paging $all (system events are filtered client-side). */
  readonly scanChunk?: number;
  /** Events fetched per server read of one stream (reads are always paged). */
  readonly streamPageSize?: number;
  /** Consecutive failed (re)subscribe attempts before a subscription gives up and reports through onError. */
  readonly maxResubscribeAttempts?: number;
  /** Test seam: use this client instead of connecting to `url`. */
  readonly client?: EsdbClientLike;
}

/** Node socket errors that mean "could not reach the server / connection dropped". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
// gRPC status codes: 1 CANCELLED, 4 DEADLINE_EXCEEDED, 10 ABORTED, 14 UNAVAILABLE.
const RETRIABLE_GRPC_CODES = new Set([1, 4, 10, 14]);

function revisionText(v: unknown): string {
  return typeof v === 'bigint' ? v.toString(10) : String(v);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Translates anything the EventStoreDB client throws into our coded errors.
 * WrongExpectedVersion -> ConcurrencyError; unreachable/timeouts/leader changes -> StoreUnavailableError(retriable);
 * everything else -> StoreUnavailableError(non-retriable) carrying the original as `cause`.
 */
export function translateEsdbError(err: unknown, what: string): LedgerError {
  if (err instanceof LedgerError) return err;
  // Raw gRPC ServiceErrors (e.g. from the client's feature probe) become typed client errors first.
  const e = err instanceof Error ? convertToCommandError(err) : err;
  if (e instanceof WrongExpectedVersionError) {
    return new ConcurrencyError(e.streamName, revisionText(e.expectedVersion), revisionText(e.actualVersion), err);
  }
  if (
    e instanceof UnavailableError ||
    e instanceof DeadlineExceededError ||
    e instanceof TimeoutError ||
    e instanceof CancelledError ||
    e instanceof NotLeaderError
  ) {
    return new StoreUnavailableError(`eventstoredb ${what} failed: ${messageOf(e)}`, err, true);
  }
  const code = (e as { code?: unknown } | null)?.code;
  const isNetwork =
    (typeof code === 'string' && NETWORK_CODES.has(code)) ||
    (typeof code === 'number' && RETRIABLE_GRPC_CODES.has(code)) ||
    (e instanceof Error && /^Failed to discover after \d+ attempts/.test(e.message));
  return new StoreUnavailableError(`eventstoredb ${what} failed: ${messageOf(e)}`, err, isNetwork);
}

function toNumber(v: bigint, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new StoreUnavailableError(
      `eventstoredb ${what} ${v.toString(10)} is outside the safe integer range`,
      null,
      false,
    );
  }
  return n;
}

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      if (!Number.isSafeInteger(expected) || expected < -1)
        throw new TypeError(`invalid expected revision ${expected}`);
      return expected === -1 ? NO_STREAM : BigInt(expected);
  }
}

/** Positions we hand out are commit positions of real records, where commit === prepare. */
function toReadPosition(after: number): ReadPosition {
  return after < 0 ? START : { commit: BigInt(after), prepare: BigInt(after) };
}

function isUserEvent(ev: { type: string; streamId: string }): boolean {
  return !ev.type.startsWith('$') && !ev.streamId.startsWith('$');
}

const utf8 = new TextDecoder();

/** The client already JSON-parses application/json payloads; anything still binary is parsed here when possible. */
function decodeJson(v: unknown): unknown {
  if (v === undefined) return null;
  if (v instanceof Uint8Array) {
    const text = utf8.decode(v);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return v;
}

/** Throws a TypeError for an event that cannot be stored, before anything is sent. */
function toEventData(ev: NewEvent): EventData {
  // Serializing here first (the client serializes the data again) makes a value that is not JSON this caller's TypeError.
  const json = serializeEvent(ev);
  // Metadata goes over the wire as JSON bytes so that falsy values (null, 0, false, "") survive the round trip:
  // the client silently drops metadata that is falsy.
  const metadata = Buffer.from(json.metadata, 'utf8');
  return jsonEvent({
    id: ev.id,
    type: ev.type,
    data: (ev.data === undefined ? null : ev.data) as JSONType,
    metadata,
  });
}

function positionOf(raw: EsdbRecordedEvent, fallback?: bigint): number {
  const commit = raw.position?.commit ?? fallback;
  if (commit === undefined) {
    throw new StoreUnavailableError(
      'eventstoredb did not return event positions (EventStoreDB 22.6 or newer is required)',
      null,
      false,
    );
  }
  return toNumber(commit, 'position');
}

function toRecorded(raw: EsdbRecordedEvent, position: number): RecordedEvent {
  return {
    id: raw.id,
    streamId: raw.streamId,
    revision: toNumber(raw.revision, 'revision'),
    position,
    type: raw.type,
    data: decodeJson(raw.data),
    metadata: decodeJson(raw.metadata),
  };
}

/** Same ids and types, in order, as the batch we tried to write. */
function matches(written: readonly EsdbRecordedEvent[], events: readonly NewEvent[]): boolean {
  return (
    written.length === events.length &&
    events.every((ev, i) => written[i]!.id === ev.id && written[i]!.type === ev.type)
  );
}

interface ScanItem {
  readonly position: number;
  /** null for system events, which are skipped but still advance the cursor. */
  readonly event: RecordedEvent | null;
}

const noop = (): void => undefined;

/** What a subscription needs from its store. */
interface SubscriptionSource {
  readonly client: EventStoreDBClient;
  headPosition(): Promise<number>;
  /** Consecutive failed (re)subscribe attempts before giving up. */
  readonly maxResubscribeAttempts: number;
}

/** A handler's own failure: ends the subscription as it is, never retried. */
class HandlerFailure extends Error {
  constructor(readonly error: unknown) {
    super('subscription handler failed');
  }
}

function stopStream(s: AllStreamSubscription): void {
  // Cancels the gRPC call; not awaited so close() cannot hang on a connection that is still being set up.
  s.unsubscribe().catch(noop);
  s.destroy();
}

/**
 * A server-side catch-up subscription to $all (system events filtered out by the server and again here).
 * Events are consumed through the stream's async iterator, so the handler runs one event at a time and the
 * next event is not pulled until it has finished. `caughtUp` resolves once an event at or beyond the head
 * position read when the subscription started has been handled (immediately when there is nothing to catch up).
 * The client's own `caughtUp` event is not used: it fires when the marker passes the client's transform, which
 * can be before buffered events reach the handler. Retriable failures resubscribe from the last handled position.
 */
class EsdbSubscription implements Subscription {
  readonly caughtUp: Promise<void>;
  private cursor: number;
  private stopped = false;
  private current: AllStreamSubscription | undefined;
  private head: number | undefined;
  private isCaughtUp = false;
  private failures = 0;
  private resolveCaughtUp!: () => void;
  private rejectCaughtUp!: (e: unknown) => void;
  /** Aborted by close(): ends a backoff wait at once. */
  private readonly stopping = new AbortController();
  private readonly done: Promise<void>;

  constructor(
    private readonly source: SubscriptionSource,
    private readonly handler: EventHandler,
    opts: SubscribeOptions,
    private readonly onClose: () => void,
  ) {
    this.cursor = opts.after ?? -1;
    const onError = opts.onError ?? ((e: unknown) => console.error('subscription failed', e));
    this.caughtUp = new Promise<void>((res, rej) => {
      this.resolveCaughtUp = res;
      this.rejectCaughtUp = rej;
    });
    this.caughtUp.catch(noop);
    this.done = this.run().catch((err: unknown) => {
      if (this.stopped) return;
      this.stopped = true;
      this.rejectCaughtUp(err);
      onError(err);
    });
  }

  async close(): Promise<void> {
    this.onClose();
    this.stopped = true;
    this.stopping.abort();
    if (this.current) stopStream(this.current);
    await this.done;
  }

  /** Follows the log until closed; a retriable failure resubscribes after a backoff, anything else ends it. */
  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.follow();
        if (this.stopped) return;
        throw new StoreUnavailableError('eventstoredb subscription ended unexpectedly', null, true);
      } catch (err) {
        if (this.current) stopStream(this.current);
        this.current = undefined;
        if (this.stopped) return;
        if (err instanceof HandlerFailure) throw err.error;
        const e = translateEsdbError(err, 'subscribeToAll');
        this.failures++;
        if (!e.retriable || this.failures > this.source.maxResubscribeAttempts) throw e;
        await this.backoff();
      }
    }
  }

  /** One server subscription from the cursor, read until it ends, fails, or the subscription is closed. */
  private async follow(): Promise<void> {
    if (this.head === undefined) {
      this.head = await this.source.headPosition();
      this.checkCaughtUp();
    }
    const sub = this.source.client.subscribeToAll({
      fromPosition: toReadPosition(this.cursor),
      filter: excludeSystemEvents(),
      resolveLinkTos: false,
    });
    this.current = sub;
    sub.once('confirmation', () => (this.failures = 0));
    if (this.stopped) {
      stopStream(sub);
      return;
    }
    for await (const resolved of sub as AsyncIterable<AllStreamResolvedEvent>) {
      if (this.stopped) break;
      this.failures = 0;
      await this.deliver(resolved);
      if (this.stopped) break;
    }
  }

  /** Hands one event to the handler (user events only) and moves the cursor past it. */
  private async deliver(resolved: AllStreamResolvedEvent): Promise<void> {
    const raw = resolved.event;
    if (!raw) return;
    const position = positionOf(raw, resolved.commitPosition);
    if (position <= this.cursor) return; // defensive: never redeliver after a resubscribe
    if (isUserEvent(raw)) {
      try {
        const r = this.handler(toRecorded(raw, position));
        if (r !== undefined) await r;
      } catch (e) {
        throw new HandlerFailure(e);
      }
    }
    this.cursor = position;
    this.checkCaughtUp();
  }

  private checkCaughtUp(): void {
    if (!this.isCaughtUp && this.head !== undefined && this.cursor >= this.head) {
      this.isCaughtUp = true;
      this.resolveCaughtUp();
    }
  }

  private async backoff(): Promise<void> {
    try {
      await delay(Math.min(5000, 100 * 2 ** (this.failures - 1)), undefined, { signal: this.stopping.signal });
    } catch (err) {
      // Only close() ends the wait early; anything else is a real failure.
      if (!(this.stopping.signal.aborted && (err as Error).name === 'AbortError')) throw err;
    }
  }
}

export class EsdbEventStore implements EventStore {
  readonly kind = 'esdb';
  private readonly client: EventStoreDBClient;
  private readonly streamPageSize: number;
  private closed = false;
  private readonly subs = new Set<Subscription>();
  /** eventId -> streamId of recent appends (insertion-ordered Map used as an LRU). */
  private readonly recentIds = new Map<string, string>();
  private readonly recentIdCapacity: number;
  private readonly scanChunk: number;
  private readonly maxResubscribeAttempts: number;

  constructor(url: string, opts: EsdbStoreOptions = {}) {
    try {
      this.client = (opts.client as EventStoreDBClient | undefined) ?? EventStoreDBClient.connectionString(url);
    } catch (err) {
      throw new StoreUnavailableError(`invalid EventStoreDB connection string: ${messageOf(err)}`, err, false);
    }
    this.recentIdCapacity = opts.recentIdCapacity ?? 100_000;
    this.scanChunk = Math.max(2, opts.scanChunk ?? 500);
    this.streamPageSize = Math.max(1, opts.streamPageSize ?? 500);
    this.maxResubscribeAttempts = opts.maxResubscribeAttempts ?? 10;
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreUnavailableError('store is closed', null, false);
  }

  /**
   * ESDB dedupes retries by event id (fully for exact/no_stream/stream_exists expectations, best-effort for `any`),
   * reporting the revision of the already-written batch. The result is always computed by reading the written
   * events back (the append response's position is not relied on: it need not be the last event's), so a first
   * write and its retry return the same AppendResult. If the reported revision does not hold the batch, it is looked
   * for among the stream's last 1000 events; a "success" whose ids or types do not match what is in the stream is
   * refused as an idempotency conflict.
   *
   * ESDB does not enforce event-id uniqueness across streams; this adapter refuses re-use of an id in a different
   * stream only for ids it wrote recently itself (in this process).
   */
  async append(
    streamId: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision = 'any',
  ): Promise<AppendResult> {
    this.ensureOpen();
    if (events.length === 0) throw new TypeError('append needs at least one event');
    const expected = toEsdbExpected(expectedRevision);
    const data = events.map(toEventData);
    let known = 0;
    for (const ev of events) {
      const owner = this.recentIds.get(ev.id);
      if (owner !== undefined && owner !== streamId) throw new IdempotencyError(streamId, ev.id);
      if (owner !== undefined) known++;
    }
    // A retry re-sends a whole batch; a batch that is partly written already is refused before it reaches the server.
    if (known > 0 && known < events.length) {
      throw new IdempotencyError(streamId, events.find((ev) => this.recentIds.has(ev.id))!.id);
    }
    let lastRevision: bigint;
    try {
      const res = await this.client.appendToStream(streamId, data, { expectedRevision: expected });
      lastRevision = res.nextExpectedRevision;
    } catch (err) {
      throw translateEsdbError(err, 'append');
    }
    const first = lastRevision - BigInt(events.length - 1);
    let written = first < 0n ? [] : await this.readStreamRaw(streamId, first, events.length);
    if (!matches(written, events)) {
      // The server reported a revision that does not hold this batch (possible for a deduplicated retry):
      // look for the batch among the stream's most recent events before calling it a conflict.
      written = await this.locateBatch(streamId, events);
    }
    for (const ev of events) this.remember(ev.id, streamId);
    const last = written[written.length - 1]!;
    return { nextRevision: toNumber(last.revision, 'revision'), position: positionOf(last) };
  }

  private async locateBatch(streamId: string, events: readonly NewEvent[]): Promise<EsdbRecordedEvent[]> {
    const recent: EsdbRecordedEvent[] = [];
    try {
      const stream = this.client.readStream(streamId, { fromRevision: END, maxCount: 1000, direction: BACKWARDS });
      for await (const resolved of stream) if (resolved.event) recent.push(resolved.event);
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw translateEsdbError(err, 'readStream');
    }
    recent.reverse();
    const at = recent.findIndex((r) => r.id === events[0]!.id);
    const candidate = at < 0 ? [] : recent.slice(at, at + events.length);
    if (!matches(candidate, events)) throw new IdempotencyError(streamId, events[0]!.id);
    return candidate;
  }

  private remember(eventId: string, streamId: string): void {
    this.recentIds.delete(eventId);
    this.recentIds.set(eventId, streamId);
    if (this.recentIds.size > this.recentIdCapacity) {
      const oldest = this.recentIds.keys().next();
      if (!oldest.done) this.recentIds.delete(oldest.value);
    }
  }

  /** Raw stream read; a missing stream reads as empty. */
  private async readStreamRaw(streamId: string, fromRevision: bigint, maxCount: number): Promise<EsdbRecordedEvent[]> {
    const out: EsdbRecordedEvent[] = [];
    try {
      const stream = this.client.readStream(streamId, {
        fromRevision,
        maxCount,
        direction: FORWARDS,
        resolveLinkTos: false,
      });
      for await (const resolved of stream) {
        if (resolved.event) out.push(resolved.event);
      }
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
    this.ensureOpen();
    let left = opts.maxCount ?? Number.MAX_SAFE_INTEGER;
    let from = BigInt(Math.max(0, Math.trunc(opts.fromRevision ?? 0)));
    const out: RecordedEvent[] = [];
    while (left > 0) {
      const want = Math.min(left, this.streamPageSize);
      const page = await this.readStreamRaw(streamId, from, want);
      for (const ev of page) out.push(toRecorded(ev, positionOf(ev)));
      if (page.length < want) break;
      left -= page.length;
      from = page[page.length - 1]!.revision + 1n;
    }
    return out;
  }

  /** One server read of $all. `rawCount` counts every record returned, system ones included. */
  private async scan(
    from: ReadPosition,
    maxCount: number,
    direction: Direction,
  ): Promise<{ items: ScanItem[]; rawCount: number }> {
    const items: ScanItem[] = [];
    let rawCount = 0;
    try {
      const stream = this.client.readAll({ fromPosition: from, maxCount, direction, resolveLinkTos: false });
      for await (const resolved of stream as AsyncIterable<AllStreamResolvedEvent>) {
        rawCount++;
        const ev = resolved.event;
        if (!ev) continue;
        const position = positionOf(ev, resolved.commitPosition);
        items.push({ position, event: isUserEvent(ev) ? toRecorded(ev, position) : null });
      }
    } catch (err) {
      throw translateEsdbError(err, 'readAll');
    }
    return { items, rawCount };
  }

  /**
   * Pages $all after `after`. ESDB reads from a position inclusively, so the record at `after` is skipped. System
   * events are dropped but still advance `lastPosition`, so the next page starts past them.
   */
  async readAll(opts: { after: number; maxCount: number }): Promise<ReadAllPage> {
    this.ensureOpen();
    const { after, maxCount } = opts;
    const events: RecordedEvent[] = [];
    if (maxCount <= 0) return { events, lastPosition: after, isEnd: false };
    const chunk = Math.min(maxCount, this.scanChunk) + 1; // +1: the inclusive start record
    let cursor = after;
    for (;;) {
      const { items, rawCount } = await this.scan(toReadPosition(cursor), chunk, FORWARDS);
      let progressed = false;
      for (const item of items) {
        if (item.position <= cursor) continue;
        if (item.event) {
          // A further user event exists beyond a full page: stop before it.
          if (events.length === maxCount) return { events, lastPosition: cursor, isEnd: false };
          events.push(item.event);
        }
        cursor = item.position;
        progressed = true;
      }
      if (rawCount < chunk) return { events, lastPosition: cursor, isEnd: true };
      if (events.length === maxCount) return { events, lastPosition: cursor, isEnd: false };
      if (!progressed) {
        throw new StoreUnavailableError(
          `eventstoredb readAll cannot advance past position ${cursor} (records sharing a commit position?)`,
          null,
          false,
        );
      }
    }
  }

  /** Newest non-system event's position, scanning $all backwards past system records. */
  async headPosition(): Promise<number> {
    this.ensureOpen();
    const chunk = 100;
    let from: ReadPosition = END;
    let cursor = Number.POSITIVE_INFINITY;
    for (;;) {
      const { items, rawCount } = await this.scan(from, chunk, BACKWARDS);
      let progressed = false;
      for (const item of items) {
        if (item.position >= cursor) continue;
        if (item.event) return item.position;
        cursor = item.position;
        progressed = true;
      }
      if (rawCount < chunk) return -1;
      if (!progressed) {
        throw new StoreUnavailableError(
          `eventstoredb headPosition cannot move back past position ${cursor}`,
          null,
          false,
        );
      }
      from = toReadPosition(cursor);
    }
  }

  /** A server-side catch-up subscription to $all; see EsdbSubscription. */
  subscribeAll(handler: EventHandler, opts: SubscribeOptions = {}): Subscription {
    this.ensureOpen();
    const source: SubscriptionSource = {
      client: this.client,
      headPosition: () => this.headPosition(),
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
    await this.client.dispose().catch(noop);
  }
}

export function createEsdbStore(url: string, opts: EsdbStoreOptions = {}): EventStore {
  return new EsdbEventStore(url, opts);
}
