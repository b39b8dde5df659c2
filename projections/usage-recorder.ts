// Coalesces key use in memory (O(1) on the verify path) and writes one ApiKeyUsed per key and presentation per flush.
import type { Presentation } from '../events/catalog.js';

export interface PendingUse {
  keyId: string;
  presentation: Presentation;
  count: number;
  firstAt: number;
  lastAt: number;
  lastIp: string | null;
  lastUserAgent: string | null;
}

export class UsageRecorder {
  private pending = new Map<string, PendingUse>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly write: (uses: PendingUse[]) => Promise<void>,
    private readonly onError: (err: unknown) => void,
    readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  record(keyId: string, presentation: Presentation, at: number, ip: string | null, userAgent: string | null): void {
    const k = keyId + '\u0000' + presentation;
    const p = this.pending.get(k);
    if (p === undefined) {
      this.pending.set(k, { keyId, presentation, count: 1, firstAt: at, lastAt: at, lastIp: ip, lastUserAgent: userAgent });
      return;
    }
    p.count++;
    if (at >= p.lastAt) {
      p.lastAt = at;
      p.lastIp = ip;
      p.lastUserAgent = userAgent;
    }
  }

  /** Not yet written use for a key, so reads can show it before the next flush. */
  pendingFor(keyId: string): { count: number; lastAt: number | null } {
    let count = 0;
    let lastAt: number | null = null;
    for (const p of this.pending.values()) {
      if (p.keyId !== keyId) continue;
      count += p.count;
      if (lastAt === null || p.lastAt > lastAt) lastAt = p.lastAt;
    }
    return { count, lastAt };
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.pending.size === 0) return Promise.resolve();
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.write(batch)
      .catch((err: unknown) => {
        // Put the uses back so a later flush writes them; nothing recorded is dropped.
        for (const u of batch) {
          const k = u.keyId + '\u0000' + u.presentation;
          const cur = this.pending.get(k);
          if (cur === undefined) this.pending.set(k, u);
          else {
            cur.count += u.count;
            cur.firstAt = Math.min(cur.firstAt, u.firstAt);
          }
        }
        this.onError(err);
      })
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
