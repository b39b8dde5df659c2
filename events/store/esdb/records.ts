// Between EventStoreDB records and ours: positions (and the client's placeholders for "none"), payloads, event data.
import { START as ESDB_START, jsonEvent } from '@eventstore/db-client';
import type { EventData, JSONType, ReadPosition, RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import { StoreUnavailableError } from '../../errors.js';
import type { NewEvent, RecordedEvent } from '../types.js';
import { serializeEvent } from '../types.js';

/** What the client reports when the server sent no position: 0 (the field was absent) or 2^64−1 (the server's −1). */
const NO_POSITION = new Set([0n, 2n ** 64n - 1n]);

export function toNumber(v: bigint, what: string): number {
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

/** A commit position the server really sent, or undefined. Position 0 is the log's first record, never an event. */
export function usable(commit: bigint | undefined): bigint | undefined {
  return commit === undefined || NO_POSITION.has(commit) ? undefined : commit;
}

/** The event's $all position (its commit position); `fallback` is the read's own commit position, when it has one. */
export function positionOf(raw: EsdbRecordedEvent, fallback?: bigint): number {
  const commit = usable(raw.position?.commit) ?? usable(fallback);
  if (commit === undefined) {
    throw new StoreUnavailableError(
      'eventstoredb did not return event positions (EventStoreDB 22.6 or newer is required)',
      null,
      false,
    );
  }
  return toNumber(commit, 'position');
}

/**
 * Where a forward read (or a subscription) starts so that every event at `position` is included: the whole commit,
 * prepare position 0. Events written by gRPC have commit === prepare; only legacy TCP transactions differ.
 */
export function fromCommit(position: number): ReadPosition {
  return position < 0 ? ESDB_START : { commit: BigInt(position), prepare: 0n };
}

/**
 * Two events at one commit position (written in one legacy TCP transaction) cannot be told apart by our positions:
 * a cursor at that position would skip the rest. Fail loudly instead of dropping them.
 */
export function sharedCommit(position: number): StoreUnavailableError {
  return new StoreUnavailableError(
    `eventstoredb events share commit position ${position} (written in one legacy TCP transaction): this ledger ` +
      'addresses every event by its own position and cannot read them without skipping some',
    null,
    false,
  );
}

/** Streams of lease records (esdb/leases.ts): written beside the ledger, never part of its log. */
export const LEASE_STREAM_PREFIX = 'ledger-lease-';

export const isLeaseStream = (streamId: string): boolean => streamId.startsWith(LEASE_STREAM_PREFIX);

/** Events of the ledger's log: not the server's own ($-prefixed type or stream), not lease records. */
export function isUserEvent(ev: { type: string; streamId: string }): boolean {
  return !ev.type.startsWith('$') && !ev.streamId.startsWith('$') && !isLeaseStream(ev.streamId);
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

export function toRecorded(raw: EsdbRecordedEvent, position: number): RecordedEvent {
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

/** Throws a TypeError for an event that cannot be stored (a bad id, data that is not JSON), before anything is sent. */
export function toEventData(ev: NewEvent): EventData {
  // Serializing here first (the client serializes the data again) makes a value that is not JSON this caller's TypeError.
  const json = serializeEvent(ev);
  // Metadata goes over the wire as JSON bytes so that falsy values (null, 0, false, "") survive the round trip:
  // the client silently drops metadata that is falsy.
  const metadata = Buffer.from(json.metadata, 'utf8');
  return jsonEvent({ id: ev.id, type: ev.type, data: (ev.data === undefined ? null : ev.data) as JSONType, metadata });
}

/** Same ids and types, in order, as the batch. */
export function matches(written: readonly EsdbRecordedEvent[], events: readonly NewEvent[]): boolean {
  return (
    written.length === events.length &&
    events.every((ev, i) => written[i]!.id === ev.id && written[i]!.type === ev.type)
  );
}
