// The events this store instance committed lately, kept as written: a subscriber at the head reads them back
// without a query (each query after another connection's commit starts from an emptied page cache).
import type { AppendResult, RecordedEvent, SerializedEvent } from './types.js';

interface Held {
  readonly position: number;
  readonly revision: number;
  readonly streamId: string;
  readonly event: SerializedEvent;
}

export class RecentCommits {
  private held: Held[] = [];

  /** @param capacity how many events to keep (the newest) */
  constructor(private readonly capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError('capacity must be a positive integer');
  }

  /** Records a new write of `events` to `streamId` that ended at `r` (its last event's revision and position). */
  add(streamId: string, events: readonly SerializedEvent[], r: AppendResult): void {
    const first = r.position - events.length + 1;
    const last = this.held[this.held.length - 1];
    // Commits of one writer arrive in position order; anything else starts over (readers then use the file).
    if (last !== undefined && last.position >= first) this.held = [];
    events.forEach((event, i) =>
      this.held.push({ position: first + i, revision: r.nextRevision - events.length + 1 + i, streamId, event }),
    );
    // Trimmed in bulk: one copy per `capacity` events, not one per commit.
    if (this.held.length > 2 * this.capacity) this.held = this.held.slice(-this.capacity);
  }

  /**
   * The held events at after + 1, after + 2, … (positions are dense), at most `maxCount`, decoded afresh for each
   * caller; null when the event at after + 1 is not held (it is older, or another process wrote it).
   */
  after(after: number, maxCount: number): RecordedEvent[] | null {
    const want = after + 1;
    let lo = 0;
    let hi = this.held.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.held[mid]!.position;
      if (p === want) return this.run(mid, maxCount);
      if (p < want) lo = mid + 1;
      else hi = mid - 1;
    }
    return null;
  }

  private run(from: number, maxCount: number): RecordedEvent[] {
    const out: RecordedEvent[] = [];
    for (let i = from; i < this.held.length && out.length < maxCount; i++) {
      const h = this.held[i]!;
      if (out.length > 0 && h.position !== out[out.length - 1]!.position + 1) break; // another writer's events between
      out.push({
        id: h.event.id,
        streamId: h.streamId,
        revision: h.revision,
        position: h.position,
        type: h.event.type,
        data: JSON.parse(h.event.data) as unknown,
        metadata: JSON.parse(h.event.metadata) as unknown,
      });
    }
    return out;
  }
}
