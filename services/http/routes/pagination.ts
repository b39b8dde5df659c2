// Cursor pagination by position: items are ordered by (createdAt, id) and the cursor encodes the last pair returned,
// so a page boundary holds even when that item has since changed status, left the filter or been removed.
import { HttpError } from '../errors.js';
import { z } from 'zod';

export const paginationQuery = {
  cursor: z.string().max(200).describe('nextCursor of the previous page'),
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/)
    .describe('page size, 1–1000 (default 100)'),
};

interface Position {
  readonly id: string;
  readonly createdAt: number;
}

const CURSOR_RE = /^(\d{1,16}):([A-Za-z0-9_-]{1,100})$/;

function encodeCursor(p: Position): string {
  return Buffer.from(`${p.createdAt}:${p.id}`).toString('base64url');
}

function decodeCursor(cursor: string): Position | null {
  const m = /^[A-Za-z0-9_-]+$/.test(cursor)
    ? CURSOR_RE.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
    : null;
  return m ? { createdAt: Number(m[1]), id: m[2]! } : null;
}

/** One page of `items`, newest first unless `order` is 'asc'. A bare item id is still accepted as a cursor. */
export function page<T extends Position>(
  items: readonly T[],
  query: { readonly cursor?: string; readonly limit?: string },
  opts: { order?: 'asc' | 'desc'; max?: number } = {},
): { items: T[]; nextCursor: string | null } {
  const max = opts.max ?? 1000;
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  if (!(limit >= 1 && limit <= max))
    throw new HttpError(400, 'invalid', `limit must be between 1 and ${max}.`, {
      attr: 'limit',
      type: 'validation_error',
    });
  const dir = opts.order === 'asc' ? 1 : -1;
  const cmp = (a: Position, b: Position): number =>
    dir * (a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const sorted = [...items].sort(cmp);
  let start = 0;
  if (query.cursor !== undefined) {
    const at = decodeCursor(query.cursor) ?? items.find((x) => x.id === query.cursor);
    if (at === undefined || at === null)
      throw new HttpError(400, 'invalid_cursor', 'The cursor does not belong to this listing.', {
        attr: 'cursor',
        type: 'validation_error',
      });
    start = sorted.findIndex((x) => cmp(x, at) > 0);
    if (start < 0) start = sorted.length;
  }
  const slice = sorted.slice(start, start + limit);
  const more = start + limit < sorted.length;
  return { items: slice, nextCursor: more && slice.length > 0 ? encodeCursor(slice[slice.length - 1]!) : null };
}
