// A long catch-up on a SQLite log reads its pages on a worker thread, a few pages ahead: the reading thread only
// decodes and applies. When the reader would wait for the page the thread is reading, it reads a later page itself
// meanwhile, so the two share the reading only when the thread alone is too slow.
import { Worker } from 'node:worker_threads';
import {
  CLAIMS,
  FREE,
  notPage,
  pageAfter,
  READER,
  STOP,
  TAKEN,
  type ReadAheadReply,
  type ReadAheadStart,
} from './sqlite-read-ahead-protocol.js';
import { toColumns, type RowArray, type RowColumns } from './sqlite-rows.js';

/** Pages the thread may hold past the reader's: enough to cover a slow page, few enough to bound memory (~MBs). */
const DEPTH = 4;

/** Pages 0…pages-1 after a position, handed out in order to the reader asking for exactly the next one. */
export class ReadAhead {
  private readonly worker: Worker;
  private readonly shape: Omit<ReadAheadStart, 'file' | 'control' | 'depth'>;
  private readonly ctl: Int32Array;
  /** The index of the next page to hand out. */
  private taken = 0;
  private readonly ready = new Map<number, RowColumns>();
  private waiting: { readonly index: number; readonly resolve: (p: RowColumns | null) => void } | null = null;
  private holders: Array<{ readonly pages: number; readonly resolve: () => void }> = [];
  private ended = false;
  private lastTaken = performance.now();
  /** Why it ended early: the thread failed, or it exited before its last page; null while it reads or after its end. */
  failure: string | null = null;
  /** Pages the thread read, and pages the reader read itself (the next one, or a later one while it waited). */
  served = 0;
  readHere = 0;

  /**
   * Reads the pages after `after` up to `until` (the head when it starts), `pageSize` rows each; `read` reads rows on
   * the reader's own connection, for the pages it reads while waiting.
   */
  constructor(
    file: string,
    after: number,
    until: number,
    pageSize: number,
    private readonly read: (after: number, maxCount: number) => RowArray[],
  ) {
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new TypeError('pageSize must be a positive integer');
    if (!(until > after)) throw new TypeError('a read-ahead needs rows after its position');
    this.shape = { after, pageSize, pages: Math.ceil((until - after) / pageSize) };
    const control = new SharedArrayBuffer(4 * (CLAIMS + this.shape.pages));
    this.ctl = new Int32Array(control);
    const start: ReadAheadStart = { file, ...this.shape, control, depth: DEPTH };
    this.worker = new Worker(new URL('./sqlite-read-ahead-thread.js', import.meta.url), { workerData: start });
    this.worker.unref(); // a read-ahead never keeps the process alive
    this.worker.on('message', (r: ReadAheadReply) => this.arrived(r));
    this.worker.on('error', (err) => this.fail(`read-ahead thread failed: ${err.message}`));
    this.worker.on('exit', () => this.fail('read-ahead thread exited'));
  }

  /** Pages are still to be handed out. */
  get active(): boolean {
    return !this.ended;
  }

  /** How long since a page was last taken (ms): a read-ahead whose reader went elsewhere is replaced. */
  idleMs(now: number): number {
    return now - this.lastTaken;
  }

  /**
   * The page after `after` when it is the next one and the same size was asked. Null when the caller reads it itself:
   * another position or size, the read-ahead is over, another reader waits for that page, or no one has begun that
   * page (the caller claims it). The promise gives null too if the read-ahead ends while the thread reads the page.
   */
  take(after: number, maxCount: number): Promise<RowColumns | null> | null {
    const j = this.taken;
    const s = this.shape;
    if (this.ended || j >= s.pages || maxCount !== s.pageSize || after !== pageAfter(s, j)) return null;
    // Another reader at the same position already waits for this page: this one reads it itself.
    if (this.waiting !== null) return null;
    const page = this.ready.get(j);
    if (page !== undefined) {
      this.ready.delete(j);
      this.advance();
      return Promise.resolve(page);
    }
    if (Atomics.compareExchange(this.ctl, CLAIMS + j, FREE, READER) === FREE) {
      this.readHere++;
      this.advance();
      return null;
    }
    // The thread is reading it: read the next page no one has begun meanwhile, then wait for this one.
    this.readAheadHere(j + 1);
    if (this.ended) return null;
    return new Promise<RowColumns | null>((resolve) => (this.waiting = { index: j, resolve })).then((p) => {
      if (p !== null) this.advance();
      return p;
    });
  }

  /** Reads the first page from `from` on that no one has begun, within the thread's reach; a failure ends it all. */
  private readAheadHere(from: number): void {
    const s = this.shape;
    for (let k = from; k < Math.min(s.pages, this.taken + DEPTH); k++) {
      if (this.ready.has(k) || Atomics.compareExchange(this.ctl, CLAIMS + k, FREE, READER) !== FREE) continue;
      try {
        const rows = this.read(pageAfter(s, k), s.pageSize);
        const problem = notPage(s, k, rows);
        if (problem !== null) return this.fail(`read-ahead failed: ${problem}`);
        this.ready.set(k, toColumns(rows));
        this.readHere++;
      } catch (err) {
        // The store reads that page again when its turn comes, and reports the failure then.
        this.fail(`read-ahead failed: ${(err as Error).message}`);
      }
      return;
    }
  }

  private advance(): void {
    this.taken++;
    this.lastTaken = performance.now();
    Atomics.store(this.ctl, TAKEN, this.taken);
    Atomics.notify(this.ctl, TAKEN);
    if (this.taken === this.shape.pages) this.finish();
  }

  private arrived(r: ReadAheadReply): void {
    if ('failed' in r) return this.fail(`read-ahead failed: ${r.failed}`);
    if (this.ended) return; // arrived after the end: dropped, like what was held
    this.served++;
    const w = this.waiting;
    if (w !== null && w.index === r.index) {
      this.waiting = null;
      w.resolve(r.page);
    } else this.ready.set(r.index, r.page);
    const still: typeof this.holders = [];
    for (const h of this.holders) {
      if (this.ready.size >= h.pages) h.resolve();
      else still.push(h);
    }
    this.holders = still;
  }

  /** Resolves once `pages` pages are held and not yet taken, or the read-ahead is over. */
  holding(pages: number): Promise<void> {
    if (this.ended || this.ready.size >= pages) return Promise.resolve();
    return new Promise((resolve) => this.holders.push({ pages, resolve }));
  }

  private fail(why: string): void {
    if (!this.ended) {
      this.failure ??= why;
      this.finish();
    }
  }

  /** Ends it from within (all pages taken, or a failure): the thread is stopped without anyone waiting for that. */
  private finish(): void {
    this.close().catch((err: unknown) => (this.failure ??= `read-ahead thread did not stop: ${String(err)}`));
  }

  /** Drops what is held and stops the thread. */
  async close(): Promise<void> {
    this.ended = true;
    this.ready.clear();
    const w = this.waiting;
    this.waiting = null;
    w?.resolve(null);
    for (const h of this.holders.splice(0)) h.resolve();
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, TAKEN);
    await this.worker.terminate();
  }
}
