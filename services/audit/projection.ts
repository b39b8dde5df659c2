// Keeps audit.db up to date from the ledger: a checkpointed subscription that writes in batched transactions.
import type { EventStore, RecordedEvent, Subscription } from '../../events/store/types.js';
import type { AuditDb } from './audit-db.js';

const BATCH = 1000;

export class AuditProjection {
  private sub: Subscription | null = null;
  private pending: RecordedEvent[] = [];
  private flushScheduled = false;
  private waiters: Array<{ position: number; resolve: () => void }> = [];
  private failure: unknown = null;

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
  }

  private enqueue(e: RecordedEvent): void {
    this.pending.push(e);
    if (this.pending.length >= BATCH) this.flush();
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

/** Rebuilds audit.db from scratch, paging through the whole log. */
export async function rebuildAudit(db: AuditDb, store: EventStore, progress?: (position: number) => void): Promise<number> {
  db.reset();
  let after = -1;
  let n = 0;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 5000 });
    db.applyBatch(page.events);
    n += page.events.length;
    after = page.lastPosition;
    progress?.(after);
    if (page.isEnd || page.events.length === 0) break;
  }
  return n;
}
