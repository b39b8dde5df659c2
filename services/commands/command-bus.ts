// Runs a decider against its stream: load (cached), decide, append with the expected revision,
// retry version conflicts while the decision still holds, then wait until this process's read model has it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LedgerEvent } from '../../events/catalog.js';
import { ConcurrencyError } from '../../events/errors.js';
import type { Actor, EventMetadata, RequestContext } from '../../events/metadata.js';
import { schemaVersionOf } from '../../events/catalog.js';
import { toStoredEvent } from '../../events/serialization.js';
import type { AppendResult, EventStore, NewEvent } from '../../events/store/types.js';
import type { Decider } from '../domain/decider.js';
import type { IdGenerator } from '../ids.js';

export interface CommandContext {
  readonly actor: Actor;
  readonly request?: RequestContext | undefined;
  readonly correlationId?: string | undefined;
  /** The event or request that caused this command; defaults to the request id. */
  readonly causationId?: string | null | undefined;
}

export interface CommandResult<S, E> {
  readonly events: E[];
  /** Ids of the events written, in order (empty when the decision wrote nothing). */
  readonly eventIds: string[];
  readonly state: S;
  readonly position: number | null;
}

interface Cached {
  state: unknown;
  revision: number; // -1 = no stream
}

/** Attempts per command when appends keep losing version races. */
export const MAX_ATTEMPTS = 8;
const CACHE_LIMIT = 100_000;

function resolve<C, S>(command: C | ((state: S, now: Date) => C), state: S, now: Date): C {
  return typeof command === 'function' ? (command as (s: S, n: Date) => C)(state, now) : command;
}

export class CommandBus {
  private readonly cache = new Map<string, Cached>();
  /** Per stream, the end of the line of commands waiting for their turn in this process. */
  private readonly turns = new Map<string, Promise<void>>();

  constructor(
    private readonly store: EventStore,
    private readonly ids: IdGenerator,
    private readonly clock: () => Date,
    private readonly applied: (position: number) => Promise<void>,
    private readonly maxAttempts = MAX_ATTEMPTS,
  ) {}

  async load<S, E extends LedgerEvent>(
    decider: Decider<unknown, S, E>,
    streamId: string,
  ): Promise<Cached & { state: S }> {
    let { state, revision } = this.cached(decider, streamId);
    const fresh = await this.store.readStream(streamId, { fromRevision: revision + 1 });
    for (const r of fresh) {
      const e = toStoredEvent(r);
      if (e) state = decider.evolve(state, e as unknown as E);
      revision = r.revision;
    }
    this.remember(streamId, { state, revision });
    return { state, revision };
  }

  /** The state this process last saw for the stream, or the initial one; no read. */
  private cached<S>(decider: Decider<unknown, S, LedgerEvent>, streamId: string): Cached & { state: S } {
    const hit = this.cache.get(streamId);
    return hit === undefined
      ? { state: decider.initialState(), revision: -1 }
      : { state: hit.state as S, revision: hit.revision };
  }

  private remember(streamId: string, c: Cached): void {
    if (this.cache.size >= CACHE_LIMIT && !this.cache.has(streamId)) this.cache.clear();
    this.cache.set(streamId, c);
  }

  /** One correlation id for several commands that belong together (kept when the context already has one). */
  correlate(ctx: CommandContext): CommandContext {
    return ctx.correlationId === undefined ? { ...ctx, correlationId: this.ids.uuid() } : ctx;
  }

  /** `eventIds` fixes the ids (a retried write must reuse them to stay idempotent); fresh ones otherwise. */
  envelope(events: readonly LedgerEvent[], ctx: CommandContext, now: Date, eventIds?: readonly string[]): NewEvent[] {
    const correlationId = ctx.correlationId ?? this.ids.uuid();
    const causationId = ctx.causationId ?? ctx.request?.requestId ?? null;
    return events.map((e, i) => {
      const eventId = eventIds?.[i] ?? this.ids.uuid();
      const metadata: EventMetadata = {
        eventId,
        occurredAt: now.toISOString(),
        actor: ctx.actor,
        request: ctx.request ?? {},
        correlationId,
        causationId,
        schemaVersion: schemaVersionOf(e.type),
      };
      return { id: eventId, type: e.type, data: e.data, metadata };
    });
  }

  /**
   * Appends facts that no decider's state depends on (use records, login failures of unknown e-mails) with the
   * given expectation, enveloped like any command's. `eventIds` fixes the ids so a retry stays idempotent. Answers the
   * position written, for a caller that waits for its read model.
   */
  async appendRaw(
    streamId: string,
    events: readonly LedgerEvent[],
    ctx: CommandContext,
    expected: 'any' | 'stream_exists',
    eventIds?: readonly string[],
  ): Promise<AppendResult> {
    return this.store.append(streamId, this.envelope(events, ctx, this.clock(), eventIds), expected);
  }

  /** Decides against the stream's current state without writing: throws the domain error the command would get. */
  async check<C, S, E extends LedgerEvent>(
    decider: Decider<C, S, E>,
    streamId: string,
    command: C | ((state: S, now: Date) => C),
  ): Promise<E[]> {
    const { state } = await this.load(decider, streamId);
    return decider.decide(resolve(command, state, this.clock()), state);
  }

  /**
   * `command` may be a function of the current state (and the clock), re-evaluated on every retry,
   * so a retried decision is always taken against fresh state.
   */
  async execute<C, S, E extends LedgerEvent>(
    decider: Decider<C, S, E>,
    streamId: string,
    command: C | ((state: S, now: Date) => C),
    ctx: CommandContext,
    opts: { waitForReadModel?: boolean; newStream?: boolean } = {},
  ): Promise<CommandResult<S, E>> {
    const r = await this.inTurn(streamId, () =>
      this.decideAndAppend(decider, streamId, command, ctx, opts.newStream === true),
    );
    if (r.position !== null && opts.waitForReadModel !== false) await this.applied(r.position);
    return r;
  }

  /**
   * One command per stream at a time in this process: its writers never race each other, only other instances'
   * (parallel logins of one account on two instances would otherwise lose more rounds than MAX_ATTEMPTS).
   */
  private async inTurn<T>(streamId: string, run: () => Promise<T>): Promise<T> {
    const ours = (this.turns.get(streamId) ?? Promise.resolve()).then(run);
    const tail = ours.then(
      () => undefined,
      () => undefined, // the caller gets the failure from `ours`; the next in line only waits for its turn
    );
    this.turns.set(streamId, tail);
    try {
      return await ours;
    } finally {
      if (this.turns.get(streamId) === tail) this.turns.delete(streamId);
    }
  }

  private async decideAndAppend<C, S, E extends LedgerEvent>(
    decider: Decider<C, S, E>,
    streamId: string,
    command: C | ((state: S, now: Date) => C),
    ctx: CommandContext,
    newStream: boolean,
  ): Promise<CommandResult<S, E>> {
    for (let attempt = 1; ; attempt++) {
      // A stream named by a fresh id starts empty: skip the read; 'no_stream' catches a wrong guess and the retry loads.
      const { state, revision } =
        attempt === 1 && newStream ? this.cached(decider, streamId) : await this.load(decider, streamId);
      const now = this.clock();
      const events = decider.decide(resolve(command, state, now), state);
      if (events.length === 0) return { events, eventIds: [], state, position: null };
      const expected = revision === -1 ? 'no_stream' : revision;
      try {
        const envelopes = this.envelope(events, ctx, now);
        const res = await this.store.append(streamId, envelopes, expected);
        const next = events.reduce((s, e) => decider.evolve(s, e), state);
        this.remember(streamId, { state: next, revision: res.nextRevision });
        return { events, eventIds: envelopes.map((e) => e.id), state: next, position: res.position };
      } catch (err) {
        if (!(err instanceof ConcurrencyError) || attempt >= this.maxAttempts) throw err;
        // A random pause that grows with each loss spreads writers on several instances over the next rounds.
        await sleep(Math.random() * Math.min(100, 5 * 2 ** (attempt - 1)));
      }
    }
  }
}
