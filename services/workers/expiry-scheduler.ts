// Writes ApiKeyExpired when a key's time passes: a min-heap and one timer, never a periodic full scan.
// Only live keys are held: expired or revoked keys are dropped (lazily, with a compaction bounded by the heap's size).
import type { StoredEvent } from '../../events/catalog.js';

interface Due {
  at: number;
  keyId: string;
}

export class MinHeap {
  private readonly a: Due[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Due | undefined {
    return this.a[0];
  }
  push(x: Due): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= x.at) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }
  /** Keeps only the entries `keep` accepts, in O(n). */
  retain(keep: (x: Due) => boolean): void {
    const kept = this.a.filter(keep);
    this.a.length = 0;
    for (const x of kept) this.push(x);
  }
  pop(): Due | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]!.at < a[l]!.at ? r : l;
      if (a[c]!.at >= last.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

const MAX_TIMER = 2 ** 31 - 1;

export class ExpiryScheduler {
  private readonly heap = new MinHeap();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private running = false;
  private stopped = false;
  /** Keys settled (expired or revoked) since the heap was last compacted. */
  private settled = 0;

  /** `isLive(keyId)`: the key is neither expired nor revoked (as the read model knows it). */
  constructor(
    private readonly clock: () => Date,
    private readonly expire: (keyId: string) => Promise<void>,
    private readonly onError: (err: unknown, keyId: string) => void,
    private readonly isLive: (keyId: string) => boolean,
    private readonly autoTimer = true,
    /** false: another instance writes expiries (this one holds no lease); observe() still tracks every key. */
    private active = true,
  ) {}

  /** Takes over (or hands back) writing expiries: on a shared store only the lease holder writes them. */
  setActive(on: boolean): void {
    this.active = on;
    if (!on) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
    } else void this.runDue();
  }

  get isActive(): boolean {
    return this.active;
  }

  observe(e: StoredEvent): void {
    switch (e.type) {
      case 'ApiKeyCreated':
        if (e.data.expiresAt !== null) this.add(Date.parse(e.data.expiresAt), e.data.keyId);
        return;
      case 'ApiKeyRotated':
        this.add(Date.parse(e.data.graceEndsAt), e.data.keyId);
        return;
      case 'ApiKeyExpired':
      case 'ApiKeyRevoked':
        // Settled keys leave the heap: compacting once they could make up half of it costs O(1) per key amortised.
        if (++this.settled * 2 > this.heap.size) {
          this.settled = 0;
          this.heap.retain((d) => this.isLive(d.keyId));
        }
        return;
      default:
        return;
    }
  }

  /** Expire `keyId` at `at` (ms), unless it is settled first. */
  track(at: number, keyId: string): void {
    this.add(at, keyId);
  }

  get pending(): number {
    return this.heap.size;
  }

  private add(at: number, keyId: string): void {
    this.heap.push({ at, keyId });
    if (at < this.timerAt) this.arm();
  }

  private arm(): void {
    if (!this.autoTimer || this.stopped || !this.active) return;
    const next = this.heap.peek();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    if (!next) return;
    const delay = Math.max(0, Math.min(MAX_TIMER, next.at - this.clock().getTime()));
    this.timerAt = next.at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      void this.runDue();
    }, delay);
    this.timer.unref();
  }

  /** Expires every key whose time has come; tests with a frozen clock call this directly. */
  async runDue(): Promise<number> {
    if (this.running || !this.active) return 0;
    this.running = true;
    let n = 0;
    try {
      const now = this.clock().getTime();
      for (let top = this.heap.peek(); top && top.at <= now; top = this.heap.peek()) {
        this.heap.pop();
        if (!this.isLive(top.keyId)) continue; // settled already: nothing to read or write
        try {
          await this.expire(top.keyId);
          n++;
        } catch (err) {
          this.onError(err, top.keyId);
        }
      }
    } finally {
      this.running = false;
      this.arm();
    }
    return n;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
