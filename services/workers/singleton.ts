// Work that runs on one instance at a time: it starts when this instance is granted its lease, stops when the lease is
// lost (the connection holding it dropped) or the instance stops, and is tried again for as long as the instance runs.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Leases } from '../../events/store/leases.js';

/** After the work failed to start or run, wait this long before taking the lease again (no hot loop). */
const RETRY_MS = 1000;

export interface SingletonWork {
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

export class Singleton {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private held = false;
  private since: number | null = null;

  constructor(
    readonly name: string,
    private readonly leases: Leases,
    private readonly work: SingletonWork,
    private readonly log: (msg: string, err?: unknown) => void,
  ) {}

  /** Whether this instance runs the work now, and since when (ms). */
  get holding(): { held: boolean; since: number | null } {
    return { held: this.held, since: this.since };
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let lease;
      try {
        lease = await this.leases.acquire(this.name, signal);
      } catch (err) {
        if (!signal.aborted) this.log(`acquiring the ${this.name} lease failed`, err);
        return;
      }
      this.held = true;
      this.since = Date.now();
      let failed = false;
      // Listen before starting the work: a stop that comes while it starts must still end the wait below.
      const stopped = signal.aborted
        ? Promise.resolve()
        : new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      try {
        await this.work.start();
        await Promise.race([lease.lost, stopped]);
      } catch (err) {
        failed = true;
        this.log(`the ${this.name} work failed`, err);
      } finally {
        this.held = false;
        this.since = null;
        await Promise.resolve(this.work.stop()).catch((err: unknown) =>
          this.log(`stopping the ${this.name} work failed`, err),
        );
        await lease.release().catch(() => undefined);
      }
      if (failed) await sleep(RETRY_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }
}
