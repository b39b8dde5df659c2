// The client calls the adapter makes, as one small interface: the real client fits through `wireOf`, a test fake
// implements it directly. Appends go through the client's unary Append call, never its batchAppend: the 6.x batch
// append keeps a module-global promise bank (one stream error rejects every pending append in the process, and a late
// answer crashes it on an unguarded lookup; fixed upstream only in @kurrent/kurrentdb-client, KurrentDB-Client-NodeJS #523).
import { EventStoreDBClient } from '@eventstore/db-client';
import type {
  AllStreamResolvedEvent,
  AllStreamSubscription,
  AppendExpectedRevision,
  AppendResult,
  Direction,
  EventData,
  Filter,
  ReadPosition,
  ReadRevision,
  ResolvedEvent,
} from '@eventstore/db-client';
import { append as unaryAppend } from '@eventstore/db-client/dist/streams/appendToStream/append.js';
import { StoreUnavailableError } from '../../errors.js';
import { messageOf } from './errors.js';

export interface ReadStreamArgs {
  readonly fromRevision: ReadRevision;
  readonly maxCount: number;
  readonly direction: Direction;
  readonly resolveLinkTos: false;
  /** Read from the leader: a follower may not have the newest writes yet. */
  readonly requiresLeader?: boolean;
}

export interface ReadAllArgs {
  readonly fromPosition: ReadPosition;
  readonly maxCount: number;
  readonly direction: Direction;
  readonly resolveLinkTos: false;
}

export interface SubscribeArgs {
  readonly fromPosition: ReadPosition;
  readonly filter: Filter;
  readonly resolveLinkTos: false;
}

export interface EsdbWire {
  append(
    streamId: string,
    events: EventData[],
    opts: { expectedRevision: AppendExpectedRevision },
  ): Promise<AppendResult>;
  readStream(streamId: string, opts: ReadStreamArgs): AsyncIterable<ResolvedEvent>;
  readAll(opts: ReadAllArgs): AsyncIterable<AllStreamResolvedEvent>;
  subscribeToAll(opts: SubscribeArgs): AllStreamSubscription;
  /** Sets a stream's metadata; leases use $maxCount to keep their streams small. */
  setStreamMetadata(streamId: string, metadata: { readonly maxCount: number }): Promise<unknown>;
  /** The version the server reports ("unknown" before 21.10, which has no feature endpoint). */
  serverVersion(): Promise<string>;
  dispose(): Promise<void>;
}

/**
 * The client calls this adapter makes, stated structurally so that no client type leaves the adapter: a test stand-in
 * fits. `append` is the unary Append; `serverVersion` answers what the server reports.
 */
export interface EsdbClientLike {
  append(...args: never[]): Promise<unknown>;
  readStream(...args: never[]): AsyncIterable<unknown>;
  readAll(...args: never[]): AsyncIterable<unknown>;
  subscribeToAll(...args: never[]): AsyncIterable<unknown>;
  setStreamMetadata(...args: never[]): Promise<unknown>;
  serverVersion(): Promise<string>;
  dispose(): Promise<void>;
}

/** The real client; an invalid connection string is a non-retriable error. */
export function connect(url: string): EventStoreDBClient {
  try {
    return EventStoreDBClient.connectionString(url);
  } catch (err) {
    throw new StoreUnavailableError(`invalid EventStoreDB connection string: ${messageOf(err)}`, err, false);
  }
}

export function wireOf(client: EventStoreDBClient): EsdbWire {
  // The feature probe the client runs for itself; `capabilities` is protected in its typings, public at run time.
  const features = client as unknown as { readonly capabilities: Promise<{ readonly serverVersion: string }> };
  return {
    append: (streamId, events, opts) =>
      unaryAppend.call(client, streamId, events, { ...opts, batchAppendSize: 3 * 1024 * 1024 }),
    readStream: (streamId, opts) => client.readStream(streamId, opts),
    readAll: (opts) => client.readAll(opts),
    subscribeToAll: (opts) => client.subscribeToAll(opts),
    setStreamMetadata: (streamId, metadata) => client.setStreamMetadata(streamId, { maxCount: metadata.maxCount }),
    serverVersion: async () => (await features.capabilities).serverVersion,
    dispose: () => client.dispose(),
  };
}

/** Stream reads carry event positions only from 22.6 on; older servers are refused at connect. */
export function checkServerVersion(version: string): void {
  const m = /^(\d+)\.(\d+)/.exec(version);
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (major > 22 || (major === 22 && minor >= 6)) return;
  throw new StoreUnavailableError(
    `EventStoreDB 22.6 or newer is required (the server reports version ${version}): older servers return no event ` +
      'positions on stream reads',
    null,
    false,
  );
}
