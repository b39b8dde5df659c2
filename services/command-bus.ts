// Runs a decider against its stream: load (cached), decide, append with the expected revision,
// retry version conflicts while the decision still holds, then wait until this process's read model has it.
import type { LedgerEvent } from '../events/catalog.js';
import { ConcurrencyError } from '../events/errors.js';
import type { Actor, EventMetadata, RequestContext } from '../events/metadata.js';
import { CURRENT_SCHEMA_VERSION } from '../events/catalog.js';
import { toStoredEvent } from '../events/serialization.js';
import type { EventStore, NewEvent } from '../events/store/types.js';
import type { Decider } from './domain/decider.js';
import type { IdGenerator } from './ids.js';

export interface CommandContext {
  readonly actor: Actor;
  readonly request?: RequestContext | undefined;
  readonly correlationId?: string | undefined;
  readonly causationId?: string | null | undefined;
}

export interface CommandResult<S, E> {
  readonly events: E[];
  readonly state: S;
  readonly position: number | null;
}

interface Cached {
  state: unknown;
  revision: number; // -1 = no stream
}

const MAX_ATTEMPTS = 8;
const CACHE_LIMIT = 100_000;

export class CommandBus {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly store: EventStore,
    private readonly ids: IdGenerator,
    private readonly clock: () => Date,
    private readonly applied: (position: number) => Promise<void>,
  ) {}

  async load<S, E extends LedgerEvent>(decider: Decider<unknown, S, E>, streamId: string): Promise<Cached & { state: S }> {
    const hit = this.cache.get(streamId);
    let state = (hit?.state as S | undefined) ?? decider.initialState();
    let revision = hit?.revision ?? -1;
    const fresh = await this.store.readStream(streamId, { fromRevision: revision + 1 });
    for (const r of fresh) {
      const e = toStoredEvent(r);
      if (e) state = decider.evolve(state, e as unknown as E);
      revision = r.revision;
    }
    this.remember(streamId, { state, revision });
    return { state, revision };
  }

  private remember(streamId: string, c: Cached): void {
    if (this.cache.size >= CACHE_LIMIT && !this.cache.has(streamId)) this.cache.clear();
    this.cache.set(streamId, c);
  }

  envelope(events: readonly LedgerEvent[], ctx: CommandContext, now: Date): NewEvent[] {
    const correlationId = ctx.correlationId ?? this.ids.uuid();
    return events.map((e) => {
      const eventId = this.ids.uuid();
      const metadata: EventMetadata = {
        eventId,
        occurredAt: now.toISOString(),
        actor: ctx.actor,
        request: ctx.request ?? {},
        correlationId,
        causationId: ctx.causationId ?? null,
        schemaVersion: CURRENT_SCHEMA_VERSION,
      };
      return { id: eventId, type: e.type, data: e.data, metadata };
    });
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
    opts: { waitForReadModel?: boolean } = {},
  ): Promise<CommandResult<S, E>> {
    for (let attempt = 1; ; attempt++) {
      const { state, revision } = await this.load(decider, streamId);
      const now = this.clock();
      const cmd = typeof command === 'function' ? (command as (s: S, n: Date) => C)(state, now) : command;
      const events = decider.decide(cmd, state);
      if (events.length === 0) return { events, state, position: null };
      const expected = revision === -1 ? 'no_stream' : revision;
      try {
        const res = await this.store.append(streamId, this.envelope(events, ctx, now), expected);
        const next = events.reduce((s, e) => decider.evolve(s, e), state);
        this.remember(streamId, { state: next, revision: res.nextRevision });
        if (opts.waitForReadModel !== false) await this.applied(res.position);
        return { events, state: next, position: res.position };
      } catch (err) {
        if (err instanceof ConcurrencyError && attempt < MAX_ATTEMPTS) continue;
        throw err;
      }
    }
  }
}
