// Writes signed LedgerCheckpointed events over the audit store's hash chain, every N events or T seconds. One instance
// at a time runs it (the checkpointer lease); the expected revision of the checkpoint stream keeps the chain from forking
// even when two overlap (a holder that has not yet noticed it lost the lease): the second append is refused.
import { sign } from 'node:crypto';
import { checkpointSigningInput } from '../../events/chain.js';
import type { LedgerCheckpointed } from '../../events/catalog.js';
import { streams } from '../../events/catalog.js';
import { ConcurrencyError, LedgerError } from '../../events/errors.js';
import { SYSTEM } from '../ledger.js';
import type { AuditContext } from '../audit/context.js';

/** Upper bound on checkpoints written by one tick, so a long backlog never hogs the event loop. */
const MAX_PER_TICK = 100;
const STREAM_PAGE = 1000;

export interface CheckpointerOptions {
  /** How often to look for due checkpoints (ms); tests pass a large value and call tick() themselves. */
  readonly intervalMs?: number;
}

interface LastCheckpoint {
  readonly position: number; // ledger position the checkpoint covers (-1: none yet)
  readonly at: string | null;
  readonly revision: number; // revision of the checkpoint stream (-1: no stream)
}

interface Target {
  readonly position: number;
  readonly chain: string;
}

export class Checkpointer {
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private last: LastCheckpoint = { position: -1, at: null, revision: -1 };
  private startedAt: number | null = null;
  private lastError: { code: string; message: string; at: string } | null = null;
  private fatal = false;
  private written = 0;

  constructor(
    private readonly ctx: AuditContext,
    opts: CheckpointerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? Math.min(1000, ctx.config.checkpointSeconds * 1000);
  }

  async start(): Promise<void> {
    await this.reload();
    this.startedAt = this.ctx.ledger.now();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref(); // checkpoints must never keep a process alive
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  status(): { ok: boolean; detail?: unknown } {
    return {
      ok: !this.fatal,
      detail: {
        lastCheckpointPosition: this.last.position,
        lastCheckpointAt: this.last.at,
        written: this.written,
        projectionPosition: this.ctx.projection.position,
        lastError: this.lastError,
      },
    };
  }

  /** Writes every checkpoint that is due now; concurrent calls share one run. */
  tick(): Promise<void> {
    if (this.fatal) return Promise.resolve();
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<void> {
    try {
      for (let i = 0; i < MAX_PER_TICK; i++) {
        const target = await this.due();
        if (!target) return;
        await this.write(target);
      }
    } catch (err) {
      const retriable = err instanceof LedgerError && err.retriable;
      this.lastError = {
        code: err instanceof LedgerError ? err.code : 'CHECKPOINT_FAILED',
        message: (err as Error).message,
        at: this.ctx.ledger.clock().toISOString(),
      };
      this.ctx.metrics
        .counter('ledger_checkpoint_failures_total', 'Failed chain checkpoint writes', ['retriable'])
        .inc({ retriable: String(retriable) });
      this.ctx.logger.error({ err, retriable }, 'writing a chain checkpoint failed');
      // A non-retriable failure (read-only store, bad key) will not heal by itself: stop and report not ready.
      if (!retriable) {
        this.fatal = true;
        if (this.timer) clearInterval(this.timer);
        this.timer = null;
      }
    }
  }

  /**
   * The next checkpoint to write, if any: the N-th new event, or the audit store's head once T seconds have passed.
   * Read from the store, so a checkpointer on an instance that does not write it follows the writer's chain.
   */
  private async due(): Promise<Target | null> {
    const head = await this.ctx.store.state();
    if (head.position <= this.last.position) return null;
    // Checkpoint events are not counted, so an idle ledger never checkpoints its own checkpoints forever.
    const nth = await this.ctx.store.nthAfter(this.last.position, this.ctx.config.checkpointEvery);
    if (nth) return nth;
    const fresh = await this.ctx.store.nthAfter(this.last.position, 1);
    if (!fresh || fresh.position > head.position) return null;
    const since = this.last.at === null ? (this.startedAt ?? this.ctx.ledger.now()) : Date.parse(this.last.at);
    if (this.ctx.ledger.now() - since < this.ctx.config.checkpointSeconds * 1000) return null;
    return { position: head.position, chain: head.chain };
  }

  private async write(target: Target): Promise<void> {
    const now = this.ctx.ledger.clock();
    const at = now.toISOString();
    const signature = sign(
      null,
      checkpointSigningInput({ position: target.position, chain: target.chain, at }),
      this.ctx.signingKey.privateKey,
    ).toString('base64url');
    const event: LedgerCheckpointed = {
      type: 'LedgerCheckpointed',
      data: { position: target.position, chain: target.chain, at, kid: this.ctx.signingKey.kid, signature },
    };
    const expected = this.last.revision === -1 ? 'no_stream' : this.last.revision;
    try {
      // Same metadata path as every command (event id, occurredAt, system actor, schemaVersion).
      const res = await this.ctx.ledger.store.append(
        streams.checkpoints,
        this.ctx.ledger.bus.envelope([event], SYSTEM, now),
        expected,
      );
      this.last = { position: target.position, at, revision: res.nextRevision };
      this.written++;
      this.ctx.metrics.counter('ledger_checkpoints_written_total', 'Signed chain checkpoints written').inc();
      this.lastError = null;
    } catch (err) {
      // Another process checkpointed first: adopt its checkpoint and decide again from there.
      if (err instanceof ConcurrencyError) await this.reload();
      else throw err;
    }
  }

  /** Reads the checkpoint stream from where we last were, to learn the newest checkpoint. */
  private async reload(): Promise<void> {
    let from = this.last.revision + 1;
    for (;;) {
      const page = await this.ctx.ledger.store.readStream(streams.checkpoints, {
        fromRevision: from,
        maxCount: STREAM_PAGE,
      });
      for (const r of page) {
        const d = r.data as Partial<LedgerCheckpointed['data']> | null;
        const position = typeof d?.position === 'number' ? d.position : this.last.position;
        this.last = {
          position: Math.max(position, this.last.position),
          at: typeof d?.at === 'string' ? d.at : this.last.at,
          revision: r.revision,
        };
      }
      if (page.length < STREAM_PAGE) return;
      from = this.last.revision + 1;
    }
  }
}
