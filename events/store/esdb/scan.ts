// Reads of $all: pages after a position, the first event at or after one, the head. Positions are byte offsets of
// records; only those the store handed out are valid, and the server refuses most others (INVALID_POSITION).
import { BACKWARDS, END, FORWARDS } from '@eventstore/db-client';
import type { Direction, ReadPosition } from '@eventstore/db-client';
import { InvalidPositionError, StoreUnavailableError } from '../../errors.js';
import { assertReadPosition, beyondTheLog } from '../positions.js';
import type { ReadAllPage, RecordedEvent } from '../types.js';
import { isInvalidPosition, translateEsdbError } from './errors.js';
import { fromCommit, isUserEvent, positionOf, sharedCommit, toRecorded } from './records.js';
import type { EsdbWire } from './wire.js';

interface ScanItem {
  readonly position: number;
  /** null for system events, which are skipped but still advance the cursor. */
  readonly event: RecordedEvent | null;
}

interface Scan {
  readonly items: ScanItem[];
  /** Every record returned, system ones included. */
  readonly rawCount: number;
}

export class AllScanner {
  constructor(
    private readonly wire: EsdbWire,
    /** Raw records fetched per server read (system events are filtered client-side). */
    private readonly chunk: number,
  ) {}

  /** One server read of $all from `from`; `at` names the caller's position in an INVALID_POSITION. */
  private async scan(from: ReadPosition, maxCount: number, direction: Direction, at: number): Promise<Scan> {
    const items: ScanItem[] = [];
    let rawCount = 0;
    try {
      const stream = this.wire.readAll({ fromPosition: from, maxCount, direction, resolveLinkTos: false });
      for await (const resolved of stream) {
        rawCount++;
        const ev = resolved.event;
        if (!ev) continue;
        const position = positionOf(ev, resolved.commitPosition);
        const prev = items[items.length - 1];
        if (direction === FORWARDS && prev?.position === position) throw sharedCommit(position);
        items.push({ position, event: isUserEvent(ev) ? toRecorded(ev, position) : null });
      }
    } catch (err) {
      if (isInvalidPosition(err)) throw new InvalidPositionError(at, 'is not the position of a record', err);
      throw translateEsdbError(err, 'readAll');
    }
    return { items, rawCount };
  }

  /** Reads from the whole commit at `after` (so a shared commit is seen), skipping what is at or before it. */
  async readAll(after: number, maxCount: number): Promise<ReadAllPage> {
    assertReadPosition(after);
    const events: RecordedEvent[] = [];
    if (maxCount <= 0) return { events, lastPosition: after, isEnd: false };
    const chunk = Math.min(maxCount, this.chunk) + 1; // +1: the record at the cursor itself
    let cursor = after;
    for (let first = true; ; first = false) {
      const { items, rawCount } = await this.scan(fromCommit(cursor), chunk, FORWARDS, cursor);
      // A handed-out position reads at least its own record: nothing at all means it lies beyond the log.
      if (first && after >= 0 && rawCount === 0) throw beyondTheLog(after);
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
      if (!progressed) throw new StoreUnavailableError(`eventstoredb readAll is stuck at ${cursor}`, null, false);
    }
  }

  /** The first user event at or after `position`; null when only system records (or nothing) follow it. */
  async firstAtOrAfter(position: number): Promise<RecordedEvent | null> {
    assertReadPosition(position);
    let cursor = position - 1; // events at `position` itself count
    for (let first = true; ; first = false) {
      const from = first ? fromCommit(position) : fromCommit(cursor);
      const { items, rawCount } = await this.scan(from, this.chunk + 1, FORWARDS, position);
      if (first && position >= 0 && rawCount === 0) throw beyondTheLog(position);
      let progressed = false;
      for (const item of items) {
        if (item.position <= cursor) continue;
        if (item.event) return item.event;
        cursor = item.position;
        progressed = true;
      }
      if (rawCount < this.chunk + 1) return null;
      if (!progressed) throw new StoreUnavailableError(`eventstoredb read is stuck at ${cursor}`, null, false);
    }
  }

  /** Refuses a start position the server would not read from, or one beyond the log (a subscription would wait forever). */
  async probe(position: number): Promise<void> {
    assertReadPosition(position);
    if (position < 0) return;
    const { rawCount } = await this.scan(fromCommit(position), 1, FORWARDS, position);
    if (rawCount === 0) throw beyondTheLog(position);
  }

  /** Newest non-system event's position, scanning $all backwards past system records. */
  async headPosition(): Promise<number> {
    const chunk = 100;
    let from: ReadPosition = END;
    let cursor = Number.POSITIVE_INFINITY;
    for (;;) {
      const { items, rawCount } = await this.scan(from, chunk, BACKWARDS, cursor);
      let progressed = false;
      for (const item of items) {
        if (item.position >= cursor) continue;
        if (item.event) return item.position;
        cursor = item.position;
        progressed = true;
      }
      if (rawCount < chunk) return -1;
      if (!progressed) throw new StoreUnavailableError(`eventstoredb headPosition is stuck at ${cursor}`, null, false);
      from = fromCommit(cursor);
    }
  }
}
