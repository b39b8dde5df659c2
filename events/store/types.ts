// The one event-store interface; each backend is an adapter that speaks only these types.
//
// What every backend guarantees is stated here once; where EventStoreDB guarantees less than SQLite and PostgreSQL,
// the comment says so and callers are written for the weaker promise. test/support/store-contract.ts labels every
// case with the backends that guarantee it.

/**
 * `any`: append at the stream's head, whatever it is. `no_stream`: only to a stream with no events. `stream_exists`:
 * only to a stream with at least one event. A number: only when the stream's last revision is exactly that.
 * A refused expectation is CONCURRENCY (retriable: decide again on fresh state).
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface NewEvent {
  /**
   * A lowercase UUID (8-4-4-4-12 hex), on every backend; anything else is a TypeError before anything is written.
   * The id names the event for good: re-sending the same batch (same ids, same types, same order) to the same stream is
   * a retry (see `EventStore.append`); an id is never to be used for another event, in this stream or any other.
   */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

export interface RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number; // 0-based within the stream, consecutive
  /**
   * Global, strictly increasing in commit order, across streams and store instances. Only positions the store handed
   * out are meaningful: SQLite and PostgreSQL number events 1, 2, 3… without gaps; EventStoreDB uses byte offsets of
   * records in its log, sparse, where a number between two events is no position at all.
   */
  readonly position: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

export interface AppendResult {
  readonly nextRevision: number; // revision of the last event written
  readonly position: number; // global position of the last event written
}

export interface ReadAllPage {
  readonly events: RecordedEvent[];
  /** Pass as `after` to get the next page (a position the store handed out). */
  readonly lastPosition: number;
  readonly isEnd: boolean;
}

export interface Subscription {
  /** Resolves once the subscriber has processed everything that existed when it was created. */
  readonly caughtUp: Promise<void>;
  /** Stop receiving; resolves when the handler will not be called again. */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** Deliver events strictly after this position (START or one the store handed out); START is the default. */
  readonly after?: number;
  readonly onError?: (err: unknown) => void;
}

export type EventHandler = (event: RecordedEvent) => void | Promise<void>;

/**
 * Guarantees, by backend (S = SQLite, P = PostgreSQL, E = EventStoreDB):
 * - Appends are atomic per call; concurrent appends at one expected revision: exactly one wins, on every backend and
 *   across every process sharing the store (S P E).
 * - Retrying an append with an exact revision or `no_stream` (the revision of the first attempt) returns the original
 *   result and writes nothing, however far the stream has moved on (S P E).
 * - `any` never fails for contention (S P E).
 * - Retrying with `any` or `stream_exists`: S P recognise the retry always. E recognises it when the retry goes through
 *   the store instance whose attempt failed (it remembers the revision it tried; short of 50 000 appends in doubt at
 *   once, or a stream so contended that the server had to place the batch), and otherwise only while the original
 *   batch is among the stream's last `idempotencyWindow` events (default 50); beyond that it is written again.
 * - Id reuse: S P refuse an id already used by a different event anywhere (IDEMPOTENCY_CONFLICT). E refuses a batch
 *   that only partly repeats a written one when it can see it (the stream's tail for `any`/`stream_exists`, the
 *   expected revision otherwise), and does not see ids of other streams: never reuse an id.
 * - Positions (see `RecordedEvent.position`): S P accept any integer as a read position; E refuses one inside a record
 *   or beyond its log with INVALID_POSITION.
 */
export interface EventStore {
  readonly kind: string;
  /**
   * Appends `events` atomically if `expectedRevision` holds (CONCURRENCY otherwise). Re-sending a batch that was
   * written already returns that write's result (same revision and position) and writes nothing, as far as the
   * backend can recognise it (see the guarantees above); a batch that only partly repeats a written one is
   * IDEMPOTENCY_CONFLICT and writes nothing.
   */
  append(streamId: string, events: readonly NewEvent[], expectedRevision?: ExpectedRevision): Promise<AppendResult>;
  /** Events of one stream in revision order (empty when the stream does not exist). */
  readStream(streamId: string, opts?: { fromRevision?: number; maxCount?: number }): Promise<RecordedEvent[]>;
  /**
   * One page of the global log after `after` (exclusive): START, or a position this store handed out (an event's, a
   * page's `lastPosition`, the head). EventStoreDB refuses a position inside a record or beyond its log
   * (INVALID_POSITION); SQLite and PostgreSQL read after any integer.
   */
  readAll(opts: { after: number; maxCount: number }): Promise<ReadAllPage>;
  /**
   * The first event at or after `position`, or null when there is none (yet). `position` is START or one this store
   * handed out; SQLite and PostgreSQL also accept any integer up to the head (their positions are dense).
   * Anything else, and anything beyond the newest position handed out, is INVALID_POSITION (not retriable) on every
   * backend: what point-in-time reads use instead of arithmetic on positions.
   */
  firstEventAtOrAfter(position: number): Promise<RecordedEvent | null>;
  /** Catch up from `after`, then stay live. Handlers are called one at a time, in order. */
  subscribeAll(handler: EventHandler, opts?: SubscribeOptions): Subscription;
  /** Position of the newest event (START when empty). */
  headPosition(): Promise<number>;
  close(): Promise<void>;
}

export const START = -1;

export interface SerializedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
}

/** 8-4-4-4-12 lowercase hex: the only id form every backend stores and reads back byte for byte. */
const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Throws a TypeError unless `id` is a lowercase UUID (see NewEvent.id). */
export function checkEventId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !EVENT_ID.test(id))
    throw new TypeError(`every event id must be a lowercase UUID, got ${JSON.stringify(id)}`);
}

/**
 * An event's data and metadata as JSON text (`undefined` as null), checked before it joins any write: an event that
 * cannot be stored is a TypeError for its own caller, never a failure of other appends.
 */
export function serializeEvent(ev: NewEvent): SerializedEvent {
  checkEventId(ev.id);
  if (typeof ev.type !== 'string' || ev.type.length === 0)
    throw new TypeError(`event ${ev.id} needs a non-empty string type`);
  return { id: ev.id, type: ev.type, data: toJson(ev.data, ev.id), metadata: toJson(ev.metadata, ev.id) };
}

function toJson(v: unknown, id: string): string {
  const text = JSON.stringify(v ?? null) as string | undefined; // undefined for a function or symbol
  if (text === undefined) throw new TypeError(`event ${id} holds a value that is not JSON`);
  return text;
}
