// Turns stored records into typed ledger events, upcasting old schema versions on the way in.
import { EVENT_TYPES, schemaVersionOf, type LedgerEvent, type LedgerEventType, type StoredEvent } from './catalog.js';
import type { EventMetadata } from './metadata.js';
import { RowEvent } from './store/row-event.js';
import type { RecordedEvent } from './store/types.js';

type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/** upcasters[type][v] turns version v data into version v+1. */
const upcasters: Partial<Record<LedgerEventType, Record<number, Upcaster>>> = {
  // v1 wrote one ApiKeyUsed per key and presentation; v2 writes one per key with a count per presentation.
  ApiKeyUsed: { 1: (d) => withMember(d, 'presentations', { [String(d.presentation)]: d.count }) },
};

/**
 * A copy of `d` with one more member. Object.assign copies a parsed object over ten times faster than a spread with
 * a member after it (bench: ~0.1 vs ~1.5 µs), but it would set the prototype from an own `__proto__` member, which
 * JSON.parse can make: such data takes the spread.
 */
function withMember(d: Record<string, unknown>, name: string, value: unknown): Record<string, unknown> {
  if (Object.hasOwn(d, '__proto__')) return { ...d, [name]: value };
  return Object.assign({}, d, { [name]: value });
}

const known = new Set<string>(EVENT_TYPES);

export function isLedgerEventType(t: string): t is LedgerEventType {
  return known.has(t);
}

/** Returns null for event types this version does not know (written by a newer version, or foreign). */
export function toStoredEvent(r: RecordedEvent): StoredEvent | null {
  if (!isLedgerEventType(r.type)) return null;
  const current = schemaVersionOf(r.type);
  const row = r instanceof RowEvent;
  let v = ((row ? r.schemaVersion : (r.metadata as EventMetadata).schemaVersion) ?? 1) as number;
  // A row needing no upcast is already the stored event, its metadata still unparsed.
  if (row && v >= current) return r as unknown as StoredEvent;
  let data = r.data as Record<string, unknown>;
  const chain = upcasters[r.type];
  while (v < current) {
    const up = chain?.[v];
    if (up === undefined) throw new TypeError(`no upcaster for ${r.type} v${v}`);
    data = up(data);
    v += 1;
  }
  // An upcast row keeps its metadata unparsed too (most replays never read it), and says it is current now.
  if (row) return r.upcast(data, v) as unknown as StoredEvent;
  return {
    type: r.type,
    data,
    metadata: r.metadata as EventMetadata,
    streamId: r.streamId,
    revision: r.revision,
    position: r.position,
  } as StoredEvent<LedgerEvent>;
}
