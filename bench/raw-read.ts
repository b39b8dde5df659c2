// The baseline the rebuild and replay figures compare against: the log's rows as readAll reads them, undecoded.
import type { SqliteEventStore } from '../events/store/sqlite.js';

/** Reads every row in pages of 1,000, as readAll would, without JSON or projection; answers how many. */
export function readAllRows(store: SqliteEventStore): number {
  let rows = 0;
  for (let after = -1; ;) {
    const page = store.readAllRaw(after, 1000);
    rows += page.length;
    if (page.length < 1000) return rows;
    after = page[page.length - 1]![0];
  }
}
