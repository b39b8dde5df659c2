// Keeps audit.db up to date from the ledger: a checkpointed subscription that writes in batched transactions.
import type { EventStore, RecordedEvent, Subscription } from '../../events/store/types.js';
import type { AuditDb } from './audit-db.js';

/**
 * Events per transaction. Catching up (at start, or rebuilding) takes large ones: each commit rewrites every index page
 * it touched, so fewer commits write far less. Live, a transaction blocks the event loop, so it stays short.
 */
const CATCH_UP_BATCH = 10_000;
const LIVE_BATCH = 1000;

export class AuditProjection {
  private sub: Subscription | null = null;
  private pending: RecordedEvent[] = [];
  private flushScheduled = false;
  private waiters: Array<{ position: number; resolve: () => void }> = [];
  private failure: unknown = null;
  private live = false;

  constructor(
    readonly db: AuditDb,
    private readonly store: EventStore,
    private readonly onError: (msg: string, err: unknown) => void,
  ) {}

  /** Last ledger position written to audit.db. */
  get position(): number {
    return this.db.checkpoint.position;
  }

  get failed(): unknown {
    return this.failure;
  }

  /** Subscribes from the stored checkpoint; resolves once caught up with the log as it was at start. */
  async start(): Promise<void> {
    this.sub = this.store.subscribeAll((e) => this.enqueue(e), {
      after: this.db.checkpoint.position,
      onError: (err) => {
        this.failure = err;
        this.onError('audit projection stopped', err);
      },
    });
    await this.sub.caughtUp;
    this.flush();
    this.live = true;
  }

  private enqueue(e: RecordedEvent): void {
    this.pending.push(e);
    if (this.pending.length >= (this.live ? LIVE_BATCH : CATCH_UP_BATCH)) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.db.applyBatch(batch);
    } catch (err) {
      // A write failure must not be lost silently: stop here, keep the checkpoint where it was.
      this.failure = err;
      this.onError('audit projection write failed', err);
      void this.sub?.close();
      return;
    }
    const at = this.db.checkpoint.position;
    const ready = this.waiters.filter((w) => w.position <= at);
    this.waiters = this.waiters.filter((w) => w.position > at);
    for (const w of ready) w.resolve();
  }

  /** Resolves once audit.db holds everything up to `position` (default: the log's head now). */
  async caughtUp(position?: number): Promise<void> {
    const target = position ?? (await this.store.headPosition());
    if (this.db.checkpoint.position >= target) return;
    await new Promise<void>((resolve) => this.waiters.push({ position: target, resolve }));
  }

  async stop(): Promise<void> {
    await this.sub?.close();
    this.sub = null;
    this.flush();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }
}

/** Rebuilds audit.db from scratch, paging through the whole log, CATCH_UP_BATCH events per transaction. */
export async function rebuildAudit(
  db: AuditDb,
  store: EventStore,
  progress?: (position: number) => void,
): Promise<number> {
  db.reset();
  let after = -1;
  let n = 0;
  let batch: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after, maxCount: 5000 });
    batch.push(...page.events);
    n += page.events.length;
    after = page.lastPosition;
    const end = page.isEnd || page.events.length === 0;
    if (batch.length >= CATCH_UP_BATCH || end) {
      db.applyBatch(batch);
      batch = [];
      progress?.(after);
    }
    if (end) break;
  }
  return n;
}
