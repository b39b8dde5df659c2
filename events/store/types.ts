// The one event-store interface; each backend is an adapter that speaks only these types.
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface NewEvent {
  readonly id: string; // UUID; re-sending the same ids makes the append idempotent
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

export interface RecordedEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number; // 0-based within the stream
  readonly position: number; // global, strictly increasing in commit order
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
  /** Pass as `after` to get the next page. */
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
  /** Deliver events strictly after this position; -1 (default) means from the start. */
  readonly after?: number;
  readonly onError?: (err: unknown) => void;
}

export type EventHandler = (event: RecordedEvent) => void | Promise<void>;

export interface EventStore {
  readonly kind: string;
  append(streamId: string, events: readonly NewEvent[], expectedRevision?: ExpectedRevision): Promise<AppendResult>;
  /** Events of one stream in revision order (empty when the stream does not exist). */
  readStream(streamId: string, opts?: { fromRevision?: number; maxCount?: number }): Promise<RecordedEvent[]>;
  /** One page of the global log after `after` (exclusive). */
  readAll(opts: { after: number; maxCount: number }): Promise<ReadAllPage>;
  /** Catch up from `after`, then stay live. Handlers are called one at a time, in order. */
  subscribeAll(handler: EventHandler, opts?: SubscribeOptions): Subscription;
  /** Position of the newest event (-1 when empty). */
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

/**
 * An event's data and metadata as JSON text (`undefined` as null), checked before it joins any write: an event that
 * cannot be stored is a TypeError for its own caller, never a failure of other appends.
 */
export function serializeEvent(ev: NewEvent): SerializedEvent {
  if (typeof ev.id !== 'string' || ev.id.length === 0) throw new TypeError('every event needs a non-empty string id');
  if (typeof ev.type !== 'string' || ev.type.length === 0)
    throw new TypeError(`event ${ev.id} needs a non-empty string type`);
  return { id: ev.id, type: ev.type, data: toJson(ev.data, ev.id), metadata: toJson(ev.metadata, ev.id) };
}

function toJson(v: unknown, id: string): string {
  const text = JSON.stringify(v ?? null) as string | undefined; // undefined for a function or symbol
  if (text === undefined) throw new TypeError(`event ${id} holds a value that is not JSON`);
  return text;
}
