// Readiness of the audit projection on a shared store: behind the ledger is normal for a moment (another instance
// writes, or this one has just taken over); behind a position seen more than LEDGER_READY_MAX_LAG_MS ago is not.
import type { AuditProjection } from '../../projections/audit/projection.js';
import type { Ledger } from '../ledger.js';

export class AuditLag {
  private behind: { target: number; since: number } | null = null;

  constructor(
    private readonly ledger: Ledger,
    private readonly projection: AuditProjection,
    private readonly maxLagMs: number,
  ) {}

  check(writesHere: boolean): { ok: boolean; detail: Record<string, unknown> } {
    const position = this.projection.position;
    const ledger = this.ledger.read.position;
    const detail = { position, ledger, writer: writesHere ? 'this instance' : 'another instance' };
    if (this.projection.failed) return { ok: false, detail: { ...detail, reason: 'audit projection stopped' } };
    if (position >= ledger) {
      this.behind = null;
      return { ok: true, detail };
    }
    const now = performance.now();
    if (this.behind === null || position >= this.behind.target) this.behind = { target: ledger, since: now };
    const lagMs = Math.round(now - this.behind.since);
    const ok = lagMs < this.maxLagMs;
    return {
      ok,
      detail: { ...detail, lagMs, ...(ok ? {} : { reason: 'the audit tables are not following the log' }) },
    };
  }
}
