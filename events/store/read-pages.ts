// The log in pages, in position order: one await per page, not per event. For whoever folds the whole log (or the
// log after a position) outside a subscription: a rebuild, a snapshot, an offline check.
import { START, type EventStore, type RecordedEvent } from './types.js';

export async function* readPages(
  store: EventStore,
  opts: { readonly after?: number; readonly pageSize: number; readonly progress?: (position: number) => void },
): AsyncGenerator<readonly RecordedEvent[]> {
  let after = opts.after ?? START;
  for (;;) {
    const page = await store.readAll({ after, maxCount: opts.pageSize });
    yield page.events;
    after = page.lastPosition;
    opts.progress?.(after);
    if (page.isEnd || page.events.length === 0) return;
  }
}
