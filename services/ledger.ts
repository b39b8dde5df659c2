// The ledger: a composition of small units over one store. The read side answers queries and verifies tokens;
// key, user and workspace commands decide and append; the usage writer and the expiry scheduler run behind them.
import type { Presentation } from '../events/catalog.js';
import { SYSTEM_ACTOR } from '../events/metadata.js';
import type { EventStore } from '../events/store/types.js';
import type { ReadModel, VerifyOptions } from '../projections/read-model/read-model.js';
import { KeyStatus, type KeyView, type VerifyResult } from '../projections/read-model/views.js';
import { Claims } from './commands/claims.js';
import { CommandBus, type CommandContext } from './commands/command-bus.js';
import { KeyCommands } from './commands/key-commands.js';
import { ReadSide } from './commands/read-side.js';
import { UserCommands } from './commands/user-commands.js';
import { WorkspaceCommands } from './commands/workspace-commands.js';
import type { JwtService } from './crypto/jwt.js';
import type { Sealer } from './crypto/sealing.js';
import { randomIds, type IdGenerator } from './ids.js';
import { ExpiryScheduler } from './workers/expiry-scheduler.js';
import { UsageRecorder } from './workers/usage-recorder.js';
import { usageWriter } from './workers/usage-writer.js';

export type { CreateKeyInput, CreatedKey } from './commands/key-commands.js';

export interface LedgerOptions {
  readonly store: EventStore;
  readonly sealer: Sealer;
  readonly jwt: JwtService;
  readonly tokenPrefix?: string;
  readonly clock?: () => Date;
  readonly ids?: IdGenerator;
  readonly usageFlushMs?: number;
  /** Upper bound for a rotation grace period when the workspace sets none. */
  readonly maxGraceSeconds?: number;
  /** false: tests drive expiry with runDue() under a frozen clock. */
  readonly expiryTimer?: boolean;
  /** false: this instance does not write expiries until it is handed the expiry lease (a shared store). */
  readonly expiryActive?: boolean;
  readonly log?: (msg: string, err?: unknown) => void;
}

export const SYSTEM: CommandContext = { actor: SYSTEM_ACTOR };

export class Ledger {
  readonly store: EventStore;
  readonly jwt: JwtService;
  readonly clock: () => Date;
  /** The clock in ms, without a Date per call (the verify path asks on every request). */
  readonly now: () => number;
  readonly ids: IdGenerator;
  readonly bus: CommandBus;
  /** Queries, verification and read-your-writes. */
  readonly read: ReadSide;
  readonly keys: KeyCommands;
  readonly users: UserCommands;
  readonly workspaces: WorkspaceCommands;
  readonly usage: UsageRecorder;
  readonly expiry: ExpiryScheduler;

  constructor(opts: LedgerOptions) {
    const log = opts.log ?? ((m, e) => console.error(m, e));
    this.store = opts.store;
    this.jwt = opts.jwt;
    this.clock = opts.clock ?? (() => new Date());
    const clock = opts.clock;
    this.now = clock === undefined ? Date.now : () => clock().getTime();
    this.ids = opts.ids ?? randomIds;
    this.read = new ReadSide(this.store, log);
    this.bus = new CommandBus(this.store, this.ids, this.clock, (p) => this.read.waitFor(p));
    const claims = new Claims(this.bus, log);
    this.workspaces = new WorkspaceCommands(this.bus, this.read, this.ids);
    this.users = new UserCommands(this.bus, this.read, claims, this.workspaces, this.ids);
    this.keys = new KeyCommands({
      store: this.store,
      bus: this.bus,
      read: this.read,
      claims,
      ids: this.ids,
      clock: this.clock,
      jwt: this.jwt,
      sealer: opts.sealer,
      tokenPrefix: opts.tokenPrefix ?? 'tl',
      maxGraceSeconds: opts.maxGraceSeconds ?? 30 * 24 * 3600,
      log,
    });
    this.expiry = new ExpiryScheduler(
      this.clock,
      (keyId) => this.keys.expire(keyId),
      (err, keyId) => log(`expiring ${keyId} failed`, err),
      (keyId) => this.read.findKey(keyId)?.status === KeyStatus.Active,
      opts.expiryTimer ?? true,
      opts.expiryActive ?? true,
    );
    this.usage = new UsageRecorder(
      usageWriter(this.bus, this.read),
      (err) => log('writing key use failed', err),
      opts.usageFlushMs ?? 10_000,
      () => this.ids.uuid(),
    );
    this.read.onApplied((e) => this.expiry.observe(e));
  }

  /**
   * Builds the read model from the log (or from `from`, a model restored from a snapshot, and the log after it), then
   * stays live; starts the usage writer and settles overdue expiries.
   */
  async start(from?: ReadModel): Promise<void> {
    // The expiry scheduler saw no events before the snapshot: it learns the live keys' expiries from the model.
    if (from !== undefined)
      for (const k of from.keysById.values())
        if (k.status === KeyStatus.Active && Number.isFinite(k.expiresAt)) this.expiry.track(k.expiresAt, k.id);
    await this.read.start(from);
    this.usage.start();
    await this.expiry.runDue();
  }

  async stop(): Promise<void> {
    this.expiry.stop();
    await this.usage.stop();
    await this.read.stop();
  }

  verify(token: string, opts: VerifyOptions = {}): VerifyResult {
    return this.read.verify(token, { scopes: opts.scopes, now: opts.now ?? this.now() });
  }

  /** Verify and, when valid, record the use (coalesced, never on the caller's latency). */
  verifyAndRecord(
    token: string,
    presentation: Presentation,
    opts: VerifyOptions & { ip?: string | null; userAgent?: string | null } = {},
  ): VerifyResult {
    const now = opts.now ?? this.now();
    const r = this.read.verify(token, { scopes: opts.scopes, now });
    if (r.valid && r.key) this.usage.record(r.key.id, presentation, now, opts.ip ?? null, opts.userAgent ?? null);
    return r;
  }

  /** Records one use of a key a caller has already verified (coalesced, never on the caller's latency). */
  recordUse(key: KeyView, presentation: Presentation, now: number, ip: string | null, userAgent: string | null): void {
    this.usage.record(key.id, presentation, now, ip, userAgent);
  }
}
