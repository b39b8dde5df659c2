// The events this store instance committed lately, kept as written: a subscriber at the head reads them back
// without a query (each query after another connection's commit starts from an emptied page cache).
import type { AppendResult, SerializedEvent } from './types.js';

/** position, event_id, stream_id, revision, type, data, metadata: a row as the store's readAll reads it. */
export type HeldRow = readonly [number, string, string, number, string, string, string];

export class RecentCommits {
  private held: HeldRow[] = [];

  /** @param capacity how many events to keep (the newest) */
  constructor(private readonly capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError('capacity must be a positive integer');
  }

  /** Records a new write of `events` to `streamId` that ended at `r` (its last event's revision and position). */
  add(streamId: string, events: readonly SerializedEvent[], r: AppendResult): void {
    const first = r.position - events.length + 1;
    const last = this.held[this.held.length - 1];
    // Commits of one writer arrive in position order; anything else starts over (readers then use the file).
    if (last !== undefined && last[0] >= first) this.held = [];
    const firstRevision = r.nextRevision - events.length + 1;
    events.forEach((e, i) =>
      this.held.push([first + i, e.id, streamId, firstRevision + i, e.type, e.data, e.metadata]),
    );
    // Trimmed in bulk: one copy per `capacity` events, not one per commit.
    if (this.held.length > 2 * this.capacity) this.held = this.held.slice(-this.capacity);
  }

  /**
   * The held rows at after + 1, after + 2, … (positions are dense), at most `maxCount`; null when the event at
   * after + 1 is not held (it is older, or another process wrote it).
   */
  after(after: number, maxCount: number): HeldRow[] | null {
    const want = after + 1;
    let lo = 0;
    let hi = this.held.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.held[mid]![0];
      if (p === want) return this.run(mid, maxCount);
      if (p < want) lo = mid + 1;
      else hi = mid - 1;
    }
    return null;
  }

  private run(from: number, maxCount: number): HeldRow[] {
    const out: HeldRow[] = [];
    for (let i = from; i < this.held.length && out.length < maxCount; i++) {
      const row = this.held[i]!;
      if (out.length > 0 && row[0] !== out[out.length - 1]![0] + 1) break; // another writer's events between
      out.push(row);
    }
    return out;
  }
}
