// PLACEHOLDER (owned by the tamper-evidence work): writes signed LedgerCheckpointed events every N events or T seconds.
import type { AuditContext } from './context.js';

export class Checkpointer {
  constructor(private readonly ctx: AuditContext) {}
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  status(): { ok: boolean; detail?: unknown } {
    return { ok: true, detail: { position: this.ctx.projection.position } };
  }
}
