// What the read-ahead thread and its reader share: how it starts, the cells both claim pages in, and the rule that
// makes the rows read after a position page j of the read-ahead.
import type { RowArray, RowColumns } from './sqlite-rows.js';

export interface ReadAheadStart {
  readonly file: string;
  /** The position page 0 follows; page j follows `after + j * pageSize` (positions are dense). */
  readonly after: number;
  readonly pageSize: number;
  readonly pages: number;
  /** Int32 cells: STOP, TAKEN (pages the reader has taken), then one claim per page (FREE, THREAD or READER). */
  readonly control: SharedArrayBuffer;
  /** How many pages past the reader's the thread may hold. */
  readonly depth: number;
}

export const STOP = 0;
export const TAKEN = 1;
export const CLAIMS = 2;
export const FREE = 0;
export const THREAD = 1;
export const READER = 2;

export type ReadAheadReply =
  { readonly index: number; readonly page: RowColumns } | { readonly index: number; readonly failed: string };

/** The position page j follows. */
export function pageAfter(s: Pick<ReadAheadStart, 'after' | 'pageSize'>, j: number): number {
  return s.after + j * s.pageSize;
}

/**
 * Why `rows`, read after page j's position, are not page j; null when they are. Dense positions make page j exactly
 * after+1 … after+pageSize (the last page may be shorter): anything else and the pages would not line up.
 */
export function notPage(
  s: Omit<ReadAheadStart, 'file' | 'control' | 'depth'>,
  j: number,
  rows: readonly RowArray[],
): string | null {
  const after = pageAfter(s, j);
  const n = rows.length;
  const sized = n === s.pageSize || (j === s.pages - 1 && n > 0);
  if (sized && rows[0]![0] === after + 1 && rows[n - 1]![0] === after + n) return null;
  return `page ${j} after position ${after}: ${n} rows that are not ${after + 1}…${after + s.pageSize}`;
}
