// Periodic read-model snapshots: once the read model has moved `every` events past the last snapshot, a niced child
// process writes the next one (one at a time). The request loop only starts it and reads its answer.
import type { ChildProcess } from 'node:child_process';
import { StoreUnavailableError } from '../../events/errors.js';
import { spawnNiced, stderrTail } from '../../projections/niced-child.js';
import { SNAPSHOT_JOB_ENV, type SnapshotDone, type SnapshotJob, type SnapshotMessage } from './snapshot-job.js';
import type { SnapshotWarning } from './load-snapshot.js';

const CHECK_MS = 5000;

/**
 * The share of wall time periodic snapshots may take: after one that took D ms the next waits at least D·(1/share − 1)
 * ms. The job's cost is mostly fixed per snapshot (load, image, write: seconds at 100k keys), so on a busy ledger
 * `every` alone would start one every few seconds, taking CPU from the other followers.
 */
export const SNAPSHOT_SHARE = 0.1;

/** The log tail after the last snapshot, in `every`s, past which the rest is cut short: what a restart replays stays bounded. */
export const MAX_TAIL_EVERIES = 4;

/**
 * Whether the timer starts a snapshot: `every` events past the last one, and the rest after the last job over (or the
 * tail MAX_TAIL_EVERIES times `every` long, whatever the rest).
 */
export function snapshotDue(s: {
  readonly every: number;
  readonly position: number;
  readonly last: number;
  readonly now: number;
  readonly restUntil: number;
}): boolean {
  const tail = s.position - s.last;
  return s.every > 0 && tail >= s.every && (s.now >= s.restUntil || tail >= MAX_TAIL_EVERIES * s.every);
}

/** When the next periodic snapshot may start, after a job that ran from `started` to `ended` (ms). */
export function restAfter(started: number, ended: number, share = SNAPSHOT_SHARE): number {
  if (!(share > 0 && share <= 1)) throw new TypeError('a snapshot share is in (0, 1]');
  return ended + Math.max(0, ended - started) * (1 / share - 1);
}

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
  /** A monotonic clock in ms (tests pass their own). */
  readonly now?: () => number;
}

export class Snapshotter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SnapshotDone> | null = null;
  private child: ChildProcess | null = null;
  private last: number;
  /** No periodic snapshot starts before this instant (SNAPSHOT_SHARE), whether the last job wrote or failed. */
  private restUntil = -Infinity;
  private readonly now: () => number;

  constructor(private readonly o: SnapshotterOptions) {
    this.last = o.loadedAt;
    this.now = o.now ?? (() => performance.now());
  }

  /** A snapshot process is running. */
  get writing(): boolean {
    return this.running !== null;
  }

  /** The position of the newest snapshot written (or loaded) by this process. */
  get lastPosition(): number {
    return this.last;
  }

  start(): void {
    if (this.o.every === 0 || this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), CHECK_MS);
    this.timer.unref();
  }

  /** What the timer does every CHECK_MS: starts a snapshot when one is due (public for tests, which pass a clock). */
  tick(): void {
    const due = snapshotDue({
      every: this.o.every,
      position: this.o.position(),
      last: this.last,
      now: this.now(),
      restUntil: this.restUntil,
    });
    if (this.running === null && due) this.snapshotNow().catch((err: unknown) => this.o.failed(err));
  }

  /** Writes a snapshot now (or joins the one being written), whatever the rest; resolves with what the process did. */
  snapshotNow(): Promise<SnapshotDone> {
    if (this.running !== null) return this.running;
    const started = this.now();
    return (this.running = this.spawn().finally(() => {
      this.running = null;
      this.restUntil = restAfter(started, this.now());
    }));
  }

  private spawn(): Promise<SnapshotDone> {
    return new Promise((resolve, reject) => {
      const c = spawnNiced(new URL('./snapshot-process.js', import.meta.url), SNAPSHOT_JOB_ENV, this.o.job);
      this.child = c;
      const lastError = stderrTail(c);
      let done: SnapshotDone | null = null;
      let failure: string | null = null;
      c.on('message', (m: SnapshotMessage) => {
        if (m.type === 'warn') this.o.warn(m.msg, m.detail);
        else if (m.type === 'failed') failure = m.message;
        else done = m;
      });
      c.once('error', reject);
      c.once('exit', (code, signal) => {
        this.child = null;
        if (done === null) {
          const why = failure ?? lastError();
          const what = `the snapshot process exited (${code ?? signal}) without writing${why ? `: ${why}` : ''}`;
          // Killed (the OOM killer's SIGKILL) may pass; the timer tries again either way.
          return reject(new StoreUnavailableError(what, null, signal === 'SIGKILL'));
        }
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
    const c = this.child;
    if (c !== null && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await exited;
    }
    await this.running?.catch(() => undefined);
  }
}
