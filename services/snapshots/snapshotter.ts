// Periodic read-model snapshots: once the read model has moved `every` events past the last snapshot, a worker thread
// writes the next one (one at a time). The request loop only starts the worker and reads its answer.
import { Worker } from 'node:worker_threads';
import type { SnapshotDone, SnapshotJob, SnapshotMessage } from './snapshot-job.js';
import type { SnapshotWarning } from './load-snapshot.js';

const CHECK_MS = 5000;

export interface SnapshotterOptions {
  readonly job: SnapshotJob;
  /** Events past the last snapshot before the next one is written; 0: never on its own (snapshotNow still works). */
  readonly every: number;
  /** The read model's position now. */
  readonly position: () => number;
  /** The position the loaded snapshot holds (START when none). */
  readonly loadedAt: number;
  readonly warn: SnapshotWarning;
  readonly written: (done: SnapshotDone) => void;
  readonly failed: (err: unknown) => void;
}

export class Snapshotter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SnapshotDone> | null = null;
  private worker: Worker | null = null;
  private last: number;

  constructor(private readonly o: SnapshotterOptions) {
    this.last = o.loadedAt;
  }

  /** The position of the newest snapshot written (or loaded) by this process. */
  get lastPosition(): number {
    return this.last;
  }

  start(): void {
    if (this.o.every === 0 || this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.running === null && this.o.position() - this.last >= this.o.every)
        this.snapshotNow().catch((err: unknown) => this.o.failed(err));
    }, CHECK_MS);
    this.timer.unref();
  }

  /** Writes a snapshot now (or joins the one being written); resolves with what the worker did. */
  snapshotNow(): Promise<SnapshotDone> {
    return (this.running ??= this.spawn().finally(() => (this.running = null)));
  }

  private spawn(): Promise<SnapshotDone> {
    return new Promise((resolve, reject) => {
      const w = new Worker(new URL('./snapshot-worker.js', import.meta.url), { workerData: this.o.job });
      this.worker = w;
      let done: SnapshotDone | null = null;
      w.on('message', (m: SnapshotMessage) => {
        if (m.type === 'warn') this.o.warn(m.msg, m.detail);
        else done = m;
      });
      w.once('error', reject);
      w.once('exit', (code) => {
        this.worker = null;
        if (done === null) return reject(new Error(`the snapshot worker exited (${code}) without writing`));
        this.last = done.position;
        this.o.written(done);
        resolve(done);
      });
    });
  }

  /** Stops the timer and any snapshot being written (its temporary file is left for the next write to replace). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const w = this.worker;
    if (w) await w.terminate();
    await this.running?.catch(() => undefined);
  }
}
