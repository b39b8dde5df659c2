// One connection to a FakeEsdbServer, shaped like the adapter's wire (esdb/wire.ts): each store instance gets its own,
// as two processes would. It also keeps the 6.x client's batch append (`appendToStream`) with its failure mode: one
// module-global promise bank, so one batch stream's error rejects every pending batch append of every client in the
// process, and an answer that arrives afterwards hits an unguarded lookup and crashes the process.
import { UnavailableError } from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type {
  FakeAppendResult,
  FakeEsdbServer,
  FakeExpected,
  FakePosition,
  FakeReadPosition,
  FakeRecord,
  WireEvent,
} from './server.js';

type Settle = readonly [(r: FakeAppendResult) => void, (e: unknown) => void];

/** The client's module-global `promiseBank` (streams/appendToStream/batchAppend.js). */
const batchBank = new Map<string, Settle>();

/** As the client's append does: falsy metadata is dropped, a Uint8Array goes over as bytes, anything else as JSON. */
function wireMetadata(v: unknown): unknown {
  if (!v) return undefined;
  if (v.constructor === Uint8Array) {
    const bytes = v as Uint8Array;
    return bytes.length === 0 ? undefined : (JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown);
  }
  return JSON.parse(JSON.stringify(v)) as unknown;
}

const toWire = (events: readonly WireEvent[]): WireEvent[] =>
  events.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: wireMetadata(e.metadata) }));

async function* yieldAll(recs: () => FakeRecord[]) {
  await Promise.resolve();
  for (const rec of recs()) yield { event: rec, commitPosition: rec.position.commit };
}

export class FakeEsdbClient {
  /** Every stream read: which stream, how many, and whether it asked for the leader. */
  readonly streamReads: Array<{ streamId: string; maxCount: number; direction: string; requiresLeader: boolean }> = [];
  subscriptions = 0;
  /** When > 0, the next subscription fails with UnavailableError after delivering this many events. */
  failSubscriptionAfter = 0;
  /** Every subscription fails with UnavailableError as soon as it starts. */
  failEverySubscription = false;
  /** The server applies the next append but its answer is lost (the call fails as unavailable). */
  loseNextAppendResponse = false;
  /** Appends of this connection wait here (a partition, a paused process) until `unstall()`. */
  private stalled: Array<() => void> | null = null;
  private readonly inFlight = new Set<(e: Error) => void>();
  private readonly batchInFlight = new Set<string>();

  constructor(
    readonly server: FakeEsdbServer,
    private readonly opts: { throwOnAppendFailure?: boolean } = {},
  ) {}

  private get throwOnAppendFailure(): boolean {
    return this.opts.throwOnAppendFailure ?? true;
  }

  /** From now on this connection's appends reach the server only after `unstall()`. */
  stall(): void {
    this.stalled ??= [];
  }

  unstall(): void {
    const waiting = this.stalled ?? [];
    this.stalled = null;
    for (const go of waiting) go();
  }

  /** The unary Append call: its failure is its own. */
  async append(
    streamId: string,
    events: WireEvent[],
    opts: { expectedRevision: FakeExpected },
  ): Promise<FakeAppendResult> {
    if (this.stalled) await new Promise<void>((r) => this.stalled!.push(r));
    const lose = this.loseNextAppendResponse;
    this.loseNextAppendResponse = false;
    return new Promise((resolve, reject) => {
      this.inFlight.add(reject);
      const done = (): boolean => this.inFlight.delete(reject);
      this.server.append(streamId, toWire(events), opts.expectedRevision, this.throwOnAppendFailure).then(
        (r) => {
          if (!done()) return;
          if (lose) reject(new UnavailableError(undefined, 'connection reset before the answer'));
          else resolve(r);
        },
        (e: unknown) => void (done() && reject(e as Error)),
      );
    });
  }

  /** The client's batch append, with its module-global promise bank. */
  appendToStream(
    streamId: string,
    events: WireEvent[],
    opts: { expectedRevision: FakeExpected },
  ): Promise<FakeAppendResult> {
    const id = randomUUID();
    const lose = this.loseNextAppendResponse;
    this.loseNextAppendResponse = false;
    const answer = (settle: (s: Settle) => void): void => {
      this.batchInFlight.delete(id);
      const entry = batchBank.get(id);
      if (!entry) {
        // The client's `const [resolve, reject] = promiseBank.get(id)` throws inside the stream's data handler.
        setImmediate(() => {
          throw new TypeError('undefined is not iterable (the batch append promise bank lost this answer)');
        });
        return;
      }
      batchBank.delete(id);
      settle(entry);
    };
    const p = new Promise<FakeAppendResult>((resolve, reject) => batchBank.set(id, [resolve, reject]));
    this.batchInFlight.add(id);
    this.server.append(streamId, toWire(events), opts.expectedRevision, this.throwOnAppendFailure).then(
      (r) =>
        answer(([resolve, reject]) =>
          lose ? reject(new UnavailableError(undefined, 'connection reset before the answer')) : resolve(r),
        ),
      (e: unknown) => answer(([, reject]) => reject(e)),
    );
    return p;
  }

  /** Append calls of this connection the server has not answered yet. */
  pending(): number {
    return this.inFlight.size + this.batchInFlight.size;
  }

  /** This connection drops: its unary calls fail; a batch stream error rejects every batch append in the process. */
  dropConnection(): void {
    const err = new UnavailableError(undefined, 'connection dropped');
    for (const reject of [...this.inFlight]) reject(err);
    this.inFlight.clear();
    if (this.batchInFlight.size === 0) return;
    for (const [, reject] of batchBank.values()) reject(err);
    batchBank.clear();
  }

  readStream(
    streamId: string,
    opts: { fromRevision: bigint | 'start' | 'end'; maxCount: number; direction?: string; requiresLeader?: boolean },
  ) {
    this.streamReads.push({
      streamId,
      maxCount: Number(opts.maxCount),
      direction: opts.direction ?? 'forwards',
      requiresLeader: opts.requiresLeader === true,
    });
    return yieldAll(() => this.server.readStream(streamId, opts));
  }

  readAll(opts: { fromPosition: FakeReadPosition; maxCount: number; direction: string }) {
    return yieldAll(() => this.server.readAll(opts));
  }

  subscribeToAll(opts: { fromPosition: FakeReadPosition; filter?: { regex?: string } }) {
    const regex = new RegExp(opts.filter?.regex ?? '.*');
    this.subscriptions++;
    let failAfter = this.failSubscriptionAfter;
    this.failSubscriptionAfter = 0;
    let after: FakePosition | null = null;
    let refused = false;
    let unlisten: (() => void) | undefined;
    const pump = (): void => {
      while (!refused) {
        const next = this.server.next(after);
        if (!next) {
          unlisten ??= this.server.onWrite(() => {
            unlisten?.();
            unlisten = undefined;
            pump();
          });
          return;
        }
        after = next.position;
        if (!regex.test(next.type)) continue;
        const item = { event: next, commitPosition: next.position.commit };
        if (failAfter > 0 && --failAfter === 0) {
          stream.push(item);
          setImmediate(() => stream.destroy(new UnavailableError(undefined as never, 'connection reset')));
          return;
        }
        if (!stream.push(item)) return;
      }
    };
    const stream = new Readable({ objectMode: true, highWaterMark: 2, read: pump });
    try {
      after = this.server.startOf(opts.fromPosition);
    } catch (err) {
      refused = true;
      setImmediate(() => stream.destroy(err as Error));
    }
    if (this.failEverySubscription)
      setImmediate(() => stream.destroy(new UnavailableError(undefined as never, 'connection refused')));
    return Object.assign(stream, {
      unsubscribe: async () => {
        unlisten?.();
        stream.destroy();
      },
    });
  }

  setStreamMetadata(streamId: string, metadata: { maxCount?: number | bigint }): Promise<void> {
    return this.server.setStreamMetadata(streamId, metadata);
  }

  async serverVersion(): Promise<string> {
    return Promise.resolve(this.server.version);
  }

  async dispose(): Promise<void> {}
}
