// The log's rows as readAll reads them: the query, the row shape, and its decoding, shared by the store, its
// read-ahead thread and the readers of the file in other threads.
import { RowEvent } from './row-event.js';
import type { RecordedEvent } from './types.js';

/** readAll's query: rows after a position, in log order, as arrays. */
export const READ_ALL_SQL =
  'SELECT position, event_id, stream_id, revision, type, data, metadata FROM events WHERE position > ? ORDER BY position LIMIT ?';

/** SELECT position, event_id, stream_id, revision, type, data, metadata, as an array. */
export type RowArray = [number, string, string, number, string, string, string];

/** A row of readAll's shape decoded into a recorded event (also used by readers of the file in other threads). */
export function arrayToRecorded(r: Readonly<RowArray>): RecordedEvent {
  return new RowEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
}

/** A page of rows by column, as it crosses threads: numbers in typed arrays (moved, not copied), text in arrays. */
export interface RowColumns {
  readonly positions: Float64Array;
  readonly revisions: Float64Array;
  readonly ids: string[];
  readonly streams: string[];
  readonly types: string[];
  readonly data: string[];
  readonly metadata: string[];
}

export function toColumns(rows: readonly RowArray[]): RowColumns {
  const n = rows.length;
  const c: RowColumns = {
    positions: new Float64Array(n),
    revisions: new Float64Array(n),
    ids: new Array<string>(n),
    streams: new Array<string>(n),
    types: new Array<string>(n),
    data: new Array<string>(n),
    metadata: new Array<string>(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    c.positions[i] = r[0];
    c.ids[i] = r[1];
    c.streams[i] = r[2];
    c.revisions[i] = r[3];
    c.types[i] = r[4];
    c.data[i] = r[5];
    c.metadata[i] = r[6];
  }
  return c;
}

/** Decodes a page of columns exactly as arrayToRecorded decodes its rows (a data column that is not JSON throws). */
export function columnsToRecorded(c: RowColumns): RecordedEvent[] {
  const n = c.positions.length;
  const out = new Array<RecordedEvent>(n);
  for (let i = 0; i < n; i++) {
    out[i] = new RowEvent(
      c.positions[i]!,
      c.ids[i]!,
      c.streams[i]!,
      c.revisions[i]!,
      c.types[i]!,
      c.data[i]!,
      c.metadata[i]!,
    );
  }
  return out;
}
