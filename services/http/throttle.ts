// Failed-password throttling per account and per IP: a sliding window of failure times, bounded in memory.
// Failures come from the log (record), so every instance counts every instance's; attempts in flight here are counted
// too, so parallel guesses cannot pass the limit together; when only in-flight attempts stand in the way, a new one
// waits for them to settle, so correct passwords are never counted as failures.

interface Entry {
  failures: number[];
  pending: number;
  waiters: Array<() => void>;
}

/** An attempt admitted by the throttle; settle it exactly once. */
export interface Ticket {
  /** The password was wrong and no event says so: counted here, by this instance alone. */
  fail(now: number): void;
  /**
   * Nothing more to count: the password was right (`reset` clears earlier failures), the attempt never happened, or
   * its failure event is applied already (record() counted it, so the ticket must not count it again).
   */
  pass(reset?: boolean): void;
}

export class Throttle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly limit: number,
    readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Seconds until another attempt may be admitted, counting failures only; 0 when allowed now. */
  retryAfter(key: string, now: number): number {
    const e = this.entries.get(key);
    if (e === undefined) return 0;
    this.prune(e, now);
    if (e.failures.length < this.limit) return 0;
    return Math.max(1, Math.ceil((e.failures[0]! + this.windowMs - now) / 1000));
  }

  /** Admits an attempt (a ticket), or answers the seconds to wait when failures alone reach the limit. */
  async enter(key: string, clock: () => number): Promise<Ticket | number> {
    for (;;) {
      const e = this.entry(key);
      const now = clock();
      const wait = this.retryAfter(key, now);
      if (wait > 0) {
        this.forgetIfIdle(key, e);
        return wait;
      }
      if (e.failures.length + e.pending < this.limit) {
        e.pending++;
        return this.ticket(key, e);
      }
      await new Promise<void>((resolve) => e.waiters.push(resolve));
    }
  }

  /** A failure at `at` (ms), read from the log: counted on every instance, whichever one checked the password. */
  record(key: string, at: number): void {
    const e = this.entry(key);
    this.addFailure(e, at);
    this.wake(e);
  }

  /** Clears an account's failures (a correct password, or a system admin lifted its lockout). */
  reset(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    e.failures = [];
    this.wake(e);
    this.forgetIfIdle(key, e);
  }

  private ticket(key: string, e: Entry): Ticket {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      e.pending--;
      return true;
    };
    return {
      fail: (now) => {
        if (!settle()) return;
        this.addFailure(e, now);
        this.wake(e);
      },
      pass: (reset = false) => {
        if (!settle()) return;
        if (reset) e.failures = [];
        this.wake(e);
        this.forgetIfIdle(key, e);
      },
    };
  }

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (e === undefined) {
      if (this.entries.size >= this.maxKeys) this.evictOne();
      e = { failures: [], pending: 0, waiters: [] };
      this.entries.set(key, e);
    }
    return e;
  }

  /** Drops the oldest idle entry; entries with attempts in flight are never dropped. */
  private evictOne(): void {
    for (const [k, e] of this.entries) {
      if (e.pending === 0 && e.waiters.length === 0) {
        this.entries.delete(k);
        return;
      }
    }
  }

  /**
   * Kept in time order (instances' events interleave), and only the newest `limit`: the window reaches the limit again
   * exactly when the oldest of those leaves it.
   */
  private addFailure(e: Entry, at: number): void {
    let i = e.failures.length;
    while (i > 0 && e.failures[i - 1]! > at) i--;
    e.failures.splice(i, 0, at);
    if (e.failures.length > this.limit) e.failures.splice(0, e.failures.length - this.limit);
  }

  private wake(e: Entry): void {
    const waiters = e.waiters;
    e.waiters = [];
    for (const w of waiters) w();
  }

  private forgetIfIdle(key: string, e: Entry): void {
    if (e.failures.length === 0 && e.pending === 0 && e.waiters.length === 0 && this.entries.get(key) === e)
      this.entries.delete(key);
  }

  private prune(e: Entry, now: number): void {
    while (e.failures.length > 0 && e.failures[0]! <= now - this.windowMs) e.failures.shift();
  }
}

/** Says yes once per key per window: throttled requests are recorded once, not once each. */
export class OncePerWindow {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  first(key: string, now: number): boolean {
    const at = this.seen.get(key);
    if (at !== undefined && now - at < this.windowMs) return false;
    this.seen.delete(key); // re-inserted last, so the oldest entries are evicted first
    if (this.seen.size >= this.maxKeys) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.set(key, now);
    return true;
  }
}
