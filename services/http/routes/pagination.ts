// Cursor pagination over a stable, newest-first list: the cursor is the id of the last item returned.
import { HttpError } from '../errors.js';
import { str } from '../schema.js';

export const paginationQuery = {
  cursor: str({ maxLength: 200, description: 'id of the last item of the previous page' }),
  limit: str({ pattern: '^[0-9]{1,4}$', description: 'page size, 1–1000 (default 100)' }),
};

export function page<T extends { id: string }>(items: T[], query: Record<string, string>, max = 1000): { items: T[]; nextCursor: string | null } {
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  if (!(limit >= 1 && limit <= max)) throw new HttpError(400, 'invalid', `limit must be between 1 and ${max}.`, { attr: 'limit', type: 'validation_error' });
  let start = 0;
  if (query.cursor !== undefined) {
    const i = items.findIndex((x) => x.id === query.cursor);
    if (i < 0) throw new HttpError(400, 'invalid_cursor', 'The cursor does not belong to this listing.', { attr: 'cursor', type: 'validation_error' });
    start = i + 1;
  }
  const slice = items.slice(start, start + limit);
  const more = start + limit < items.length;
  return { items: slice, nextCursor: more && slice.length > 0 ? slice[slice.length - 1]!.id : null };
}
