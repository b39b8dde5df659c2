// Turns stored records into typed ledger events, upcasting old schema versions on the way in.
import { CURRENT_SCHEMA_VERSION, EVENT_TYPES, type LedgerEvent, type LedgerEventType, type StoredEvent } from './catalog.js';
import type { EventMetadata } from './metadata.js';
import type { RecordedEvent } from './store/types.js';

type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/** upcasters[type][v] turns version v data into version v+1. Empty while every event is at version 1. */
const upcasters: Partial<Record<LedgerEventType, Record<number, Upcaster>>> = {};

const known = new Set<string>(EVENT_TYPES);

export function isLedgerEventType(t: string): t is LedgerEventType {
  return known.has(t);
}

/** Returns null for event types this version does not know (written by a newer version, or foreign). */
export function toStoredEvent(r: RecordedEvent): StoredEvent | null {
  if (!isLedgerEventType(r.type)) return null;
  const metadata = r.metadata as EventMetadata;
  let data = r.data as Record<string, unknown>;
  let v = metadata.schemaVersion ?? 1;
  const chain = upcasters[r.type];
  while (v < CURRENT_SCHEMA_VERSION) {
    const up = chain?.[v];
    if (up === undefined) throw new TypeError(`no upcaster for ${r.type} v${v}`);
    data = up(data);
    v += 1;
  }
  return { type: r.type, data, metadata, streamId: r.streamId, revision: r.revision, position: r.position } as StoredEvent<LedgerEvent>;
}
