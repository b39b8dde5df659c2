// Keeps the audit store up to date from the ledger (on the instance that writes it: a checkpointed subscription that
// writes in batched transactions), and knows how far the store has got (on every instance: from its own writes, or by
// reading the stored position when another instance writes), so a query can wait until it holds a given position.
import { LedgerError } from '../../events/errors.js';
import { readPages } from '../../events/store/read-pages.js';
import { START, type EventStore, type RecordedEvent, type Subscription } from '../../events/store/types.js';
import type { AuditStore } from './store.js';

/**
 * Events per transaction. Catching up (at start, or rebuilding) takes large ones: each commit rewrites every index page
 * it touched, so fewer commits write far less. Live, a transaction blocks the event loop (SQLite), so it stays short.
 */
const CATCH_UP_BATCH = 10_000;
const LIVE_BATCH = 1000;
/** How often an instance that does not write reads the stored position: while a query waits, and otherwise. */
const FOLLOW_WAITING_MS = 10;
const FOLLOW_IDLE_MS = 1000;
/**
 * After a retriable failure (a dropped connection, a killed writer process), resume from the stored position after
 * this long, doubled for each further failure before a resume catches up (a writer killed again and again backs off).
 */
const RESUME_MS = 1000;
const RESUME_MAX_MS = 30_000;

export class AuditProjection {
  private sub: Subscription | null = null;
  /** Ends a start() still catching up when its subscription is let go of (a closed subscription never catches up). */
  private letGo: (() => void) | null = null;
  private pending: RecordedEvent[] = [];
  private flushScheduled = false;
  private writes: Promise<void> = Promise.resolve();
  private waiters: Array<{ position: number; resolve: () => void }> = [];
  private failure: unknown = null;
  private live = false;
  private known = -1;
  private follower: NodeJS.Timeout | null = null;
  private resume: NodeJS.Timeout | null = null;
  private closed = false;
  /** Bumped by every stop: a start that was under way when it came does not begin writing. */
  private epoch = 0;
  private unreadable = false;
  /** Retriable failures since the last start that caught up. */
  private failuresInARow = 0;

  constructor(
    readonly store: AuditStore,
    private readonly events: EventStore,
    private readonly onError: (msg: string, err: unknown) => void,
    /** Told each time the known position grows (a writer process reports it to its server). */
    private readonly onReached?: (position: number) => void,
  ) {}

  /** The ledger position the audit store is known to hold. */
  get position(): number {
    return this.known;
  }

  get failed(): unknown {
    return this.failure;
  }

  /** Whether this instance writes the store now. */
  get writing(): boolean {
    return this.sub !== null;
  }

  /** Learns what the store holds and keeps following it while this instance does not write. */
  async open(): Promise<void> {
    this.reached((await this.store.state()).position);
    this.follow();
  }

  /** Writes: subscribes from the stored checkpoint; resolves once caught up with the log as it was at start. */
  async start(): Promise<void> {
    if (this.sub !== null || this.closed) return;
    const epoch = this.epoch;
    const from = await this.store.state();
    if (epoch !== this.epoch || this.sub !== null || this.closed) return;
    this.reached(from.position);
    this.failure = null;
    this.live = false;
    const onError = (err: unknown): void => {
      if (this.sub === sub) this.fail(err, 'audit projection stopped');
    };
    // A store that follows the log by itself (off the request loop) only reports how far it got. Otherwise events of a
    // subscription this projection has since let go of are dropped: the next one resumes from the store.
    const sub: Subscription =
      this.store.follow?.((p) => (this.sub === sub ? this.reached(p) : undefined), onError) ??
      this.events.subscribeAll((e) => (this.sub === sub ? this.enqueue(e) : undefined), {
        after: from.position,
        onError,
      });
    this.sub = sub;
    const letGo = new Promise<void>((resolve) => (this.letGo = resolve));
    try {
      await Promise.race([sub.caughtUp, letGo]);
    } catch (err) {
      if (this.sub === sub) this.sub = null;
      await sub.close();
      throw err;
    }
    if (this.sub !== sub) return; // stopped (or failed) while catching up
    await this.flush();
    this.live = true;
    this.failuresInARow = 0;
  }

  /** Stops writing (the lease was lost or the instance stops), after writing what was already received. */
  async stop(): Promise<void> {
    this.epoch++;
    if (this.resume) clearTimeout(this.resume);
    this.resume = null;
    const sub = this.sub;
    this.sub = null;
    this.letGo?.();
    await sub?.close();
    await this.flush();
    // This instance's own write failure no longer stands between its queries and a store another instance writes.
    if (!this.closed) this.failure = null;
    this.follow();
  }

  /** Stops everything; queries still waiting are let go. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
    if (this.follower) clearTimeout(this.follower);
    this.follower = null;
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  private enqueue(e: RecordedEvent): Promise<void> | undefined {
    this.pending.push(e);
    // A full batch is written before the subscription hands over more (backpressure on a slower store).
    if (this.pending.length >= (this.live ? LIVE_BATCH : CATCH_UP_BATCH)) return this.flush();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
    return undefined;
  }

  /** Writes what is pending, after any write still running: one write at a time, in log order. */
  private flush(): Promise<void> {
    this.flushScheduled = false;
    this.writes = this.writes.then(() => this.write());
    return this.writes;
  }

  private async write(): Promise<void> {
    if (this.pending.length === 0 || this.failure !== null) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.reached((await this.store.applyBatch(batch)).position);
    } catch (err) {
      this.fail(err, 'audit projection write failed');
    }
  }

  /**
   * A write failure must not be lost silently. A retriable one (a dropped connection) resumes from the stored
   * position shortly, while this instance still writes; any other stops the projection, keeping its checkpoint.
   */
  private fail(err: unknown, msg: string): void {
    const sub = this.sub;
    this.sub = null;
    this.letGo?.();
    this.pending = [];
    void sub?.close();
    const retriable = err instanceof LedgerError && err.retriable && !this.closed;
    this.onError(retriable ? `${msg}; resuming from the stored position` : msg, err);
    if (!retriable) {
      this.failure = err;
      return;
    }
    const delay = Math.min(RESUME_MS * 2 ** this.failuresInARow++, RESUME_MAX_MS);
    this.resume = setTimeout(() => {
      this.resume = null;
      this.start().catch((e: unknown) => this.fail(e, 'audit projection could not resume'));
    }, delay);
    this.resume.unref();
  }

  /** The stored position only grows (a rebuild swaps the tables in one transaction, ending at the head it read). */
  private reached(position: number): void {
    if (position > this.known) this.onReached?.(position);
    this.known = Math.max(this.known, position);
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.position <= this.known);
    this.waiters = this.waiters.filter((w) => w.position > this.known);
    for (const w of ready) w.resolve();
  }

  /** While another instance writes: reads the stored position, often while a query waits, now and then otherwise. */
  private follow(): void {
    if (this.follower !== null || this.closed || this.writing) return;
    const tick = (): void => {
      this.follower = null;
      if (this.closed || this.writing) return;
      this.store
        .state()
        .then((s) => {
          this.unreadable = false;
          this.reached(s.position);
        })
        .catch((err: unknown) => {
          // Said once per outage; the next tick tries again, and a lasting one shows in readiness as lag.
          if (!this.unreadable) this.onError('reading the audit store position failed; trying again', err);
          this.unreadable = true;
        })
        .finally(() => {
          if (this.follower !== null || this.closed || this.writing) return;
          this.follower = setTimeout(tick, this.waiters.length > 0 ? FOLLOW_WAITING_MS : FOLLOW_IDLE_MS);
          this.follower.unref();
        });
    };
    this.follower = setTimeout(tick, this.waiters.length > 0 ? FOLLOW_WAITING_MS : FOLLOW_IDLE_MS);
    this.follower.unref();
  }

  /** Resolves once the store holds everything up to `position` (default: the log's head now). */
  async caughtUp(position?: number): Promise<void> {
    const target = position ?? (await this.events.headPosition());
    if (this.known >= target || this.closed) return;
    await new Promise<void>((resolve) => {
      this.waiters.push({ position: target, resolve });
      if (!this.writing && this.follower !== null) {
        // Wake the follower now instead of at its idle pace.
        clearTimeout(this.follower);
        this.follower = null;
        this.follow();
      }
    });
  }
}

/** The whole log in batches of CATCH_UP_BATCH events, read 5000 at a time. */
async function* logBatches(store: EventStore, progress?: (position: number) => void): AsyncGenerator<RecordedEvent[]> {
  let batch: RecordedEvent[] = [];
  let at = START;
  for await (const page of readPages(store, { pageSize: 5000, progress: (p) => (at = p) })) {
    batch.push(...page);
    if (batch.length < CATCH_UP_BATCH) continue;
    yield batch;
    batch = [];
    progress?.(at);
  }
  if (batch.length > 0) yield batch;
  progress?.(at);
}

/** Rebuilds the audit store from scratch out of the whole log; returns how many events it projected. */
export async function rebuildAudit(
  audit: AuditStore,
  store: EventStore,
  progress?: (position: number) => void,
): Promise<number> {
  let n = 0;
  async function* counted(): AsyncGenerator<RecordedEvent[]> {
    for await (const b of logBatches(store, progress)) {
      n += b.length;
      yield b;
    }
  }
  await audit.rebuild(counted());
  return n;
}
