// Failed-login throttling per account and per IP: a sliding window of attempt times, bounded in memory.
export class Throttle {
  private readonly attempts = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Seconds until another attempt is allowed; 0 when allowed now. */
  retryAfter(key: string, now: number): number {
    const list = this.prune(key, now);
    if (list.length < this.limit) return 0;
    return Math.max(1, Math.ceil((list[0]! + this.windowMs - now) / 1000));
  }

  /** Counts an attempt before its outcome is known, so parallel attempts cannot all pass the check at once. */
  reserve(key: string, now: number): void {
    if (this.attempts.size >= this.maxKeys && !this.attempts.has(key)) {
      const oldest = this.attempts.keys().next().value;
      if (oldest !== undefined) this.attempts.delete(oldest);
    }
    const list = this.prune(key, now);
    list.push(now);
    this.attempts.set(key, list);
  }

  /** Takes back one attempt reserved at `at` (it turned out not to be a failure). */
  release(key: string, at: number): void {
    const list = this.attempts.get(key);
    const i = list?.lastIndexOf(at) ?? -1;
    if (list === undefined || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.attempts.delete(key);
  }

  reset(key: string): void {
    this.attempts.delete(key);
  }

  private prune(key: string, now: number): number[] {
    const list = this.attempts.get(key) ?? [];
    while (list.length > 0 && list[0]! <= now - this.windowMs) list.shift();
    if (list.length === 0) this.attempts.delete(key);
    return list;
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
