// The HTTP feeds' source: every revocation-class CloudEvent (per-key fan-out), in log order, kept in memory.
// Built by replaying the ledger log with the same fan-out index the Kafka publisher uses, so the HTTP feed and
// the revocations topic carry the same items with the same ids and cursors.
import type { EventStore, Subscription } from '../../events/store/types.js';
import { formatCursor, isAfter, type Cursor } from '../../clients/protocol.js';
import { DEFAULT_SOURCE } from './cloudevents.js';
import { FeedState, type FeedItem } from './feed-state.js';

export type { FeedItem };

/** At most this many items are looked at per page() call, however few of them the caller may see. */
export const FEED_SCAN_BUDGET = 10_000;

/** Decides which items a caller may see, by the workspace of the key (null: a key the ledger log never created). */
export type FeedVisibility = (workspaceId: string | null) => boolean;

export interface FeedPage {
  readonly items: FeedItem[];
  /** Resume after this cursor; it may pass items the caller may not see, never one it may. */
  readonly nextCursor: string;
  /** true when a visible item exists after nextCursor now, or when the scan budget ran out before that was known. */
  readonly hasMore: boolean;
}

/** Index of the first item after the cursor (binary search: items are in (position, index) order). */
export function firstAfter(items: readonly FeedItem[], c: Cursor | null): number {
  if (c === null) return 0;
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const it = items[mid]!;
    if (isAfter(it.position, it.index, c)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * One page of `items` (in cursor order) after `after`: up to `limit` items that pass `visible`, looking at no more
 * than `budget` items. `feedPosition` is the last ledger position the items reflect.
 */
export function pageOf(
  items: readonly FeedItem[],
  after: Cursor | null,
  limit: number,
  feedPosition: number,
  visible?: FeedVisibility,
  budget = FEED_SCAN_BUDGET,
): FeedPage {
  const start = firstAfter(items, after);
  const out: FeedItem[] = [];
  // Unfiltered pages stop after limit + 1 items anyway; only filtered scans need the budget.
  const end = visible === undefined ? items.length : Math.min(items.length, start + Math.max(1, budget));
  let i = start;
  let nextVisible = false;
  for (; i < end; i++) {
    const it = items[i]!;
    if (visible !== undefined && !visible(it.event.data.workspaceId)) continue;
    if (out.length >= limit) {
      nextVisible = true;
      break;
    }
    out.push(it);
  }
  // i is the first item not scanned (or the next visible one): everything before it was returned or is invisible.
  const lastScanned = items[i - 1];
  if (i === items.length && out.length === 0) {
    // With nothing new, the cursor moves up to the feed's own position: no item exists before it.
    const nextCursor = after !== null && after.position > feedPosition ? formatCursor(after) : String(feedPosition);
    return { items: out, nextCursor, hasMore: false };
  }
  const nextCursor = i > start && lastScanned ? lastScanned.cursor : after === null ? '-1' : formatCursor(after);
  return { items: out, nextCursor, hasMore: nextVisible || i < items.length };
}

export class RevocationFeed {
  private state: FeedState;
  private readonly listeners = new Set<() => void>();
  private sub: Subscription | null = null;
  private caughtUp = false;
  private failed: string | null = null;

  constructor(
    private readonly store: EventStore,
    source = DEFAULT_SOURCE,
    private readonly log: (msg: string, err: unknown) => void = () => undefined,
  ) {
    this.state = new FeedState(source);
  }

  /** Last ledger position this feed has applied. */
  get position(): number {
    return this.state.position;
  }

  private get items(): readonly FeedItem[] {
    return this.state.items;
  }

  /** Follows the log from `restored` (a snapshot's state, built with this feed's source) or from the start. */
  async start(restored?: FeedState): Promise<void> {
    if (this.sub) return;
    if (restored) this.state = restored;
    this.sub = this.store.subscribeAll(
      (r) => {
        if (this.state.apply(r) > 0) this.notify();
      },
      {
        after: this.state.position,
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
      detail: {
        position: this.position,
        items: this.items.length,
        subscribers: this.listeners.size,
        error: this.failed,
      },
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

  /**
   * Up to `limit` items after `after` that pass `visible` (all items when it is omitted). A filtered call looks at
   * no more than FEED_SCAN_BUDGET items: when that runs out first, it returns what matched, hasMore true, and a
   * nextCursor past every item it looked at, so the next call goes on from there.
   */
  page(after: Cursor | null, limit: number, visible?: FeedVisibility): FeedPage {
    return pageOf(this.items, after, limit, this.position, visible);
  }

  /** Called after new items were appended (readers then pull with page()). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
