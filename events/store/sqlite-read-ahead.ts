// A long catch-up on a SQLite log reads its pages on a worker thread, a few pages ahead: the reading thread only
// decodes and applies, so a replay at start costs about what applying the events costs.
import { Worker } from 'node:worker_threads';
import type { ReadAheadReply, ReadAheadStart } from './sqlite-read-ahead-thread.js';
import type { RowColumns } from './sqlite-rows.js';

/** Pages requested before the first is taken: enough to cover a slow page, few enough to bound memory (~MBs). */
const DEPTH = 4;

/** Pages read ahead from one position on; handed out only to the reader asking for exactly the next page. */
export class ReadAhead {
  private readonly worker: Worker;
  private readonly pageSize: number;
  /** The `after` of the next page to hand out. */
  private next: number;
  private readonly ready: ReadAheadReply[] = [];
  private waiting: ((r: ReadAheadReply | null) => void) | null = null;
  private ended = false;
  private lastTaken = performance.now();
  /** Why it ended early: the thread failed, or it exited before its last page; null while it reads or after its end. */
  failure: string | null = null;
  /** Pages handed out. */
  served = 0;

  constructor(file: string, after: number, until: number, pageSize: number) {
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new TypeError('pageSize must be a positive integer');
    this.pageSize = pageSize;
    this.next = after;
    const start: ReadAheadStart = { file, after, until, pageSize };
    this.worker = new Worker(new URL('./sqlite-read-ahead-thread.js', import.meta.url), { workerData: start });
    this.worker.unref(); // a read-ahead never keeps the process alive
    this.worker.on('message', (r: ReadAheadReply) => this.arrived(r));
    this.worker.on('error', (err) => this.stop(`read-ahead thread failed: ${err.message}`));
    this.worker.on('exit', () => this.stop('read-ahead thread exited'));
    for (let i = 0; i < DEPTH; i++) this.worker.postMessage(0);
  }

  /** Still reading or holding pages. */
  get active(): boolean {
    return !this.ended || this.ready.length > 0;
  }

  /** How long since a page was last taken (ms): a read-ahead whose reader went elsewhere is replaced. */
  idleMs(now: number): number {
    return now - this.lastTaken;
  }

  /**
   * The page after `after` if it is the next one and the same size was asked; null when the caller must read it
   * itself (another position, or the read-ahead is over). The promise gives null if the read-ahead ends meanwhile.
   */
  take(after: number, maxCount: number): Promise<RowColumns | null> | null {
    if (after !== this.next || maxCount !== this.pageSize || this.waiting !== null || !this.active) return null;
    return new Promise<ReadAheadReply | null>((resolve) => {
      const r = this.ready.shift();
      if (r !== undefined) resolve(r);
      else if (this.ended) resolve(null);
      else this.waiting = resolve;
    }).then((r) => {
      if (r === null || 'failed' in r) return null;
      const n = r.page.positions.length;
      if (n > 0) this.next = r.page.positions[n - 1]!;
      this.served++;
      this.lastTaken = performance.now();
      if (r.last) this.finish();
      else if (!this.ended) this.worker.postMessage(0);
      return r.page;
    });
  }

  private arrived(r: ReadAheadReply): void {
    if ('failed' in r) {
      this.failure = `read-ahead failed: ${r.failed}`;
      this.finish();
    }
    const w = this.waiting;
    this.waiting = null;
    if (w !== null) w(r);
    else if (!this.ended) this.ready.push(r);
  }

  private stop(why: string): void {
    if (!this.ended) this.failure ??= why;
    this.end();
  }

  private end(): void {
    this.ended = true;
    const w = this.waiting;
    this.waiting = null;
    w?.(null);
  }

  /** Ends it from within (last page taken, or a failure): the thread is stopped without anyone waiting for that. */
  private finish(): void {
    this.close().catch((err: unknown) => (this.failure ??= `read-ahead thread did not stop: ${String(err)}`));
  }

  /** Drops what is held and stops the thread. */
  async close(): Promise<void> {
    this.ready.length = 0;
    if (!this.ended) this.end();
    await this.worker.terminate();
  }
}
