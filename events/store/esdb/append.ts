// Appends with the server's own idempotency where it is exact, and ours where it is only best effort.
//
// The server dedupes a retry against the events at the expected revision when the expectation is exact or no_stream,
// always. For `any` and `stream_exists` it only consults a per-node in-memory cache of recent commits (IndexWriter
// CheckCommit), which a restart, a leader change or an eviction empties. So `any` and `stream_exists` are written here
// as exact appends at the head read from the leader, after looking for the batch in the stream's tail (one at a time per
// stream in this instance; after a few rounds lost to other instances, the server's own expectation); and a batch whose
// outcome this instance did not learn is retried at the very revision it was first tried at, where the server
// recognises it however far the stream has moved on.
import { ANY, BACKWARDS, END, FORWARDS, NO_STREAM, STREAM_EXISTS, StreamNotFoundError } from '@eventstore/db-client';
import type {
  AppendResult as EsdbAppendResult,
  EventData,
  RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import { ConcurrencyError, IdempotencyError } from '../../errors.js';
import type { AppendResult, ExpectedRevision, NewEvent } from '../types.js';
import { translateEsdbError } from './errors.js';
import { matches, positionOf, toNumber, usable } from './records.js';
import type { EsdbWire, ReadStreamArgs } from './wire.js';

/** Rounds of "read the head, append there" lost to other instances before the server is left to place the batch. */
const MAX_HEAD_ATTEMPTS = 5;
const noop = (): void => undefined;

type Attempt = { readonly written: AppendResult } | { readonly moved: ConcurrencyError };

export interface AppenderOptions {
  /** How many of a stream's newest events an `any`/`stream_exists` append searches for its own ids. */
  readonly idempotencyWindow: number;
  /** How many appends whose outcome is unknown are remembered with the revision they were tried at. */
  readonly inDoubtCapacity: number;
}

export class EsdbAppender {
  /** First event id -> where an append whose outcome is unknown was tried (insertion-ordered, oldest evicted). */
  private readonly inDoubt = new Map<string, { readonly streamId: string; readonly revision: bigint }>();
  /** Appends at the head of one stream, one at a time in this instance, so they never race each other for it. */
  private readonly atHead = new Map<string, Promise<void>>();

  constructor(
    private readonly wire: EsdbWire,
    private readonly opts: AppenderOptions,
  ) {}

  async append(
    streamId: string,
    events: readonly NewEvent[],
    data: EventData[],
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    if (expected === 'any' || expected === 'stream_exists') {
      const atHead = expected;
      return this.serially(streamId, () => this.appendAtHead(streamId, events, data, atHead));
    }
    if (expected === 'no_stream') expected = -1;
    if (!Number.isSafeInteger(expected) || expected < -1) throw new TypeError(`invalid expected revision ${expected}`);
    const r = await this.tryAt(streamId, events, data, BigInt(expected), false);
    if ('written' in r) return r.written;
    throw r.moved;
  }

  private async appendAtHead(
    streamId: string,
    events: readonly NewEvent[],
    data: EventData[],
    expected: 'any' | 'stream_exists',
  ): Promise<AppendResult> {
    const doubt = this.inDoubt.get(events[0]!.id);
    if (doubt !== undefined && doubt.streamId === streamId) {
      // It can only have landed right after the revision it was tried at: the server checks exactly that.
      const r = await this.tryAt(streamId, events, data, doubt.revision, true);
      if ('written' in r) return r.written;
    }
    for (let attempt = 1; attempt <= MAX_HEAD_ATTEMPTS; attempt++) {
      const tail = await this.tail(streamId);
      const head = tail.length === 0 ? -1n : tail[tail.length - 1]!.revision;
      if (head < 0n && expected === 'stream_exists') throw new ConcurrencyError(streamId, expected, 'no_stream');
      const found = findBatch(streamId, tail, events);
      if (found) return found;
      const r = await this.tryAt(streamId, events, data, head, true);
      if ('written' in r) return r.written;
    }
    return this.appendAnywhere(streamId, events, data, expected);
  }

  /**
   * Other instances keep taking the head: the server places the batch itself, so `any` never fails for contention.
   * The tail was searched just before, so only a concurrent copy of this very batch could be missed, and the server's
   * recent-commit cache holds that one; its revision is unknown, so a retry falls back to the tail search.
   */
  private async appendAnywhere(
    streamId: string,
    events: readonly NewEvent[],
    data: EventData[],
    expected: 'any' | 'stream_exists',
  ): Promise<AppendResult> {
    this.inDoubt.delete(events[0]!.id);
    let res: EsdbAppendResult;
    try {
      res = await this.wire.append(streamId, data, { expectedRevision: expected === 'any' ? ANY : STREAM_EXISTS });
    } catch (err) {
      throw translateEsdbError(err, 'append');
    }
    if (!res.success) throw new ConcurrencyError(streamId, expected, 'no_stream');
    return this.resultOf(streamId, events, res);
  }

  private serially<T>(streamId: string, work: () => Promise<T>): Promise<T> {
    const run = (this.atHead.get(streamId) ?? Promise.resolve()).then(work);
    const done = run.then(noop, noop);
    this.atHead.set(streamId, done);
    void done.then(() => {
      if (this.atHead.get(streamId) === done) this.atHead.delete(streamId);
    });
    return run;
  }

  /** One exact append at `revision` (-1: no stream). A refusal is `moved`, unless the batch partly sits there. */
  private async tryAt(
    streamId: string,
    events: readonly NewEvent[],
    data: EventData[],
    revision: bigint,
    remember: boolean,
  ): Promise<Attempt> {
    const id = events[0]!.id;
    if (remember) this.doubt(id, streamId, revision);
    let res: EsdbAppendResult;
    try {
      res = await this.wire.append(streamId, data, { expectedRevision: revision < 0n ? NO_STREAM : revision });
    } catch (err) {
      const e = translateEsdbError(err, 'append');
      if (!(e instanceof ConcurrencyError)) throw e; // outcome unknown: stays in doubt
      return this.refused(streamId, events, revision, e);
    }
    // With throwOnAppendFailure=false in the connection string the client answers a refusal with success: false.
    if (!res.success) {
      const actual = res.nextExpectedRevision < 0n ? 'no_stream' : res.nextExpectedRevision.toString(10);
      return this.refused(streamId, events, revision, new ConcurrencyError(streamId, expectedText(revision), actual));
    }
    this.inDoubt.delete(id);
    return { written: await this.resultOf(streamId, events, res) };
  }

  /** The server answers a batch that only partly matches the events at the revision as a wrong expected version. */
  private async refused(
    streamId: string,
    events: readonly NewEvent[],
    revision: bigint,
    conflict: ConcurrencyError,
  ): Promise<Attempt> {
    const id = events[0]!.id;
    this.inDoubt.delete(id);
    const [there] = await this.read(streamId, { fromRevision: revision + 1n, maxCount: 1, direction: FORWARDS });
    if (there?.id === id) throw new IdempotencyError(streamId, id);
    return { moved: conflict };
  }

  /** The append's own answer; only an older server's answer without a position needs the event read back (leader). */
  private async resultOf(streamId: string, events: readonly NewEvent[], res: EsdbAppendResult): Promise<AppendResult> {
    const nextRevision = toNumber(res.nextExpectedRevision, 'revision');
    const commit = usable(res.position?.commit);
    if (commit !== undefined) return { nextRevision, position: toNumber(commit, 'position') };
    const lastId = events[events.length - 1]!.id;
    const [last] = await this.read(streamId, {
      fromRevision: res.nextExpectedRevision,
      maxCount: 1,
      direction: FORWARDS,
    });
    if (last?.id !== lastId) throw new IdempotencyError(streamId, lastId);
    return { nextRevision, position: positionOf(last) };
  }

  /** The stream's newest events, oldest first, from the leader (empty when there is no stream). */
  private async tail(streamId: string): Promise<EsdbRecordedEvent[]> {
    const newest = await this.read(streamId, {
      fromRevision: END,
      maxCount: this.opts.idempotencyWindow,
      direction: BACKWARDS,
    });
    return newest.reverse();
  }

  private async read(streamId: string, args: Omit<ReadStreamArgs, 'resolveLinkTos'>): Promise<EsdbRecordedEvent[]> {
    const out: EsdbRecordedEvent[] = [];
    try {
      const stream = this.wire.readStream(streamId, { ...args, resolveLinkTos: false, requiresLeader: true });
      for await (const resolved of stream) if (resolved.event) out.push(resolved.event);
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw translateEsdbError(err, 'readStream');
    }
    return out;
  }

  private doubt(id: string, streamId: string, revision: bigint): void {
    this.inDoubt.delete(id);
    this.inDoubt.set(id, { streamId, revision });
    if (this.inDoubt.size > this.opts.inDoubtCapacity) {
      const oldest = this.inDoubt.keys().next();
      if (!oldest.done) this.inDoubt.delete(oldest.value);
    }
  }
}

function expectedText(revision: bigint): string {
  return revision < 0n ? 'no_stream' : revision.toString(10);
}

/**
 * The batch in the stream's tail: the original result when it is there whole, in order (a retry); IDEMPOTENCY_CONFLICT
 * when only some of its ids are (the first id alone makes a retry, as on every backend); null when none is.
 */
function findBatch(
  streamId: string,
  tail: readonly EsdbRecordedEvent[],
  events: readonly NewEvent[],
): AppendResult | null {
  const at = tail.findIndex((r) => r.id === events[0]!.id);
  if (at < 0) {
    const clash = events.find((ev) => tail.some((r) => r.id === ev.id));
    if (clash) throw new IdempotencyError(streamId, clash.id);
    return null;
  }
  const written = tail.slice(at, at + events.length);
  if (!matches(written, events)) throw new IdempotencyError(streamId, events[0]!.id);
  const last = written[written.length - 1]!;
  return { nextRevision: toNumber(last.revision, 'revision'), position: positionOf(last) };
}
