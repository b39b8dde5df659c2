// The HTTP feeds' source: every revocation-class CloudEvent (per-key fan-out), in log order, kept in memory.
// Built by replaying the ledger log with the same fan-out index the Kafka publisher uses, so the HTTP feed and
// the revocations topic carry the same items with the same ids and cursors.
import { toStoredEvent } from '../../events/serialization.js';
import type { EventStore, Subscription } from '../../events/store/types.js';
import { formatCursor, isAfter, type Cursor, type RevocationEvent } from '../../clients/protocol.js';
import { DEFAULT_SOURCE, revocationCloudEvents } from './cloudevents.js';
import { RevocationIndex } from './fanout.js';

export interface FeedItem {
  readonly position: number;
  readonly index: number;
  readonly cursor: string;
  readonly event: RevocationEvent;
  /** The CloudEvent as JSON, serialized once. */
  readonly json: string;
}

export class RevocationFeed {
  private readonly items: FeedItem[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly index = new RevocationIndex();
  private sub: Subscription | null = null;
  private caughtUp = false;
  private failed: string | null = null;
  /** Last ledger position this feed has applied. */
  position = -1;

  constructor(
    private readonly store: EventStore,
    private readonly source = DEFAULT_SOURCE,
    private readonly log: (msg: string, err: unknown) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    if (this.sub) return;
    this.sub = this.store.subscribeAll(
      (r) => {
        const e = toStoredEvent(r);
        if (e) {
          const events = revocationCloudEvents(e, this.index.apply(e), this.source);
          events.forEach((ev, i) => this.items.push({ position: r.position, index: i, cursor: ev.ledgercursor, event: ev, json: JSON.stringify(ev) }));
          this.position = r.position;
          if (events.length > 0) this.notify();
        } else this.position = r.position;
      },
      {
        onError: (err) => {
          this.failed = err instanceof Error ? err.message : String(err);
          this.log('revocation feed subscription failed', err);
          // Open streams are woken so they can end with an error (clients then fail closed).
          this.notify();
        },
      },
    );
    await this.sub.caughtUp;
    this.caughtUp = true;
  }

  async stop(): Promise<void> {
    await this.sub?.close();
    this.sub = null;
    this.listeners.clear();
  }

  get ready(): { ok: boolean; detail: Record<string, unknown> } {
    return {
      ok: this.ok,
      detail: { position: this.position, items: this.items.length, subscribers: this.listeners.size, error: this.failed },
    };
  }

  /** Caught up with the log and still following it: only then may it be served (a partial feed looks complete). */
  get ok(): boolean {
    return this.caughtUp && this.failed === null;
  }

  /** Why the feed stopped following the log (it then serves nothing: a stale feed must not look current). */
  get failure(): string | null {
    return this.failed;
  }

  get size(): number {
    return this.items.length;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Index of the first item after the cursor (binary search: items are in (position, index) order). */
  private firstAfter(c: Cursor | null): number {
    if (c === null) return 0;
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const it = this.items[mid]!;
      if (isAfter(it.position, it.index, c)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  page(after: Cursor | null, limit: number): { items: FeedItem[]; nextCursor: string; hasMore: boolean } {
    const start = this.firstAfter(after);
    const items = this.items.slice(start, start + limit);
    const hasMore = start + items.length < this.items.length;
    const last = items[items.length - 1];
    // With nothing new, the cursor moves up to the feed's own position: no item exists before it.
    const nextCursor = last ? last.cursor : after !== null && after.position > this.position ? formatCursor(after) : String(this.position);
    return { items, nextCursor, hasMore };
  }

  /** Called after new items were appended (readers then pull with page()). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
