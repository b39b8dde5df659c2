// Coalesces key use in memory (O(1) on the verify path) and writes one ApiKeyUsed per key per flush.
import type { Presentation } from '../../events/catalog.js';

export interface PendingUse {
  keyId: string;
  /** Fixed when the use is first handed to a write, so retrying that write cannot count it twice. */
  eventId: string | null;
  /** The way the token was presented last. */
  presentation: Presentation;
  presentations: Partial<Record<Presentation, number>>;
  count: number;
  firstAt: number;
  lastAt: number;
  lastIp: string | null;
  lastUserAgent: string | null;
}

/** What a write could not store: these uses are written again, with the same event ids, by a later flush. */
export interface FailedUse {
  readonly use: PendingUse;
  readonly error: unknown;
  /** false when trying again cannot help (e.g. the domain refuses it): the use is dropped and reported. */
  readonly retry: boolean;
}

export type UseWriter = (uses: readonly PendingUse[]) => Promise<FailedUse[]>;

export class UsageRecorder {
  private pending = new Map<string, PendingUse>();
  /** Uses whose write failed; kept apart (never merged) so their retry carries the original event id. */
  private retrying: PendingUse[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly write: UseWriter,
    private readonly onError: (err: unknown) => void,
    readonly intervalMs: number,
    private readonly newEventId: () => string,
  ) {}

  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  record(keyId: string, presentation: Presentation, at: number, ip: string | null, userAgent: string | null): void {
    const p = this.pending.get(keyId);
    if (p === undefined) {
      const presentations: Partial<Record<Presentation, number>> = {};
      presentations[presentation] = 1;
      this.pending.set(keyId, {
        keyId,
        eventId: null,
        presentation,
        presentations,
        count: 1,
        firstAt: at,
        lastAt: at,
        lastIp: ip,
        lastUserAgent: userAgent,
      });
      return;
    }
    p.count++;
    p.presentations[presentation] = (p.presentations[presentation] ?? 0) + 1;
    if (at < p.firstAt) p.firstAt = at;
    if (at >= p.lastAt) {
      p.lastAt = at;
      p.lastIp = ip;
      p.lastUserAgent = userAgent;
      p.presentation = presentation;
    }
  }

  /** Not yet written use for a key, so reads can show it before the next flush. */
  pendingFor(keyId: string): { count: number; lastAt: number | null } {
    const p = this.pending.get(keyId);
    let count = p?.count ?? 0;
    let lastAt = p?.lastAt ?? null;
    for (const u of this.retrying) {
      if (u.keyId !== keyId) continue;
      count += u.count;
      if (lastAt === null || u.lastAt > lastAt) lastAt = u.lastAt;
    }
    return { count, lastAt };
  }

  get pendingCount(): number {
    return this.pending.size + this.retrying.length;
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.pending.size === 0 && this.retrying.length === 0) return Promise.resolve();
    const batch = [...this.retrying, ...this.pending.values()];
    this.retrying = [];
    this.pending = new Map();
    for (const u of batch) u.eventId ??= this.newEventId();
    this.flushing = this.write(batch)
      .catch((error: unknown): FailedUse[] => batch.map((use) => ({ use, error, retry: true })))
      .then((failed) => {
        // Only what failed is written again, under its original event id; whatever was stored is not counted twice.
        for (const f of failed) if (f.retry) this.retrying.push(f.use);
        if (failed.length > 0) this.onError(failed[0]!.error);
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
