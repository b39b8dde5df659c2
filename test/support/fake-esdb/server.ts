// An in-memory EventStoreDB for the adapter's tests, as strict as the server where the adapter depends on it:
// - idempotency follows IndexWriter.CheckCommit: exact and no_stream retries are checked against the events at the
//   expected revision, always; `any` and `stream_exists` only against a bounded cache of recent commits that a test can
//   clear (a restart, a leader change, an eviction); a batch that only partly matches is a wrong expected version;
// - positions are sparse byte offsets of records (events, system records, commit records); a read from anything but a
//   record's start is refused as the server refuses it (gRPC INVALID_ARGUMENT), a read beyond the end finds nothing;
// - $all is ordered by (commit, prepare) across streams, revisions count per stream; legacy TCP transactions (one
//   commit record for several prepares, so several events at one commit position) can be written for tests;
// - follower lag (stream reads without requiresLeader miss recent writes), version, missing positions, held appends;
// - stream metadata: $maxCount writes a `$metadata` event to `$$stream` and hides older events from stream reads, as
//   the server does before a scavenge (they stay in $all until then).
import { StreamNotFoundError, UnknownError, WrongExpectedVersionError } from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';

export type FakeExpected = 'any' | 'no_stream' | 'stream_exists' | bigint;
export type FakePosition = { readonly commit: bigint; readonly prepare: bigint };
export type FakeReadPosition = 'start' | 'end' | FakePosition;

export interface FakeRecord {
  readonly streamId: string;
  readonly id: string;
  readonly revision: bigint;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly isJson: true;
  readonly created: Date;
  readonly position: FakePosition;
}

export interface WireEvent {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: unknown;
}

export interface FakeAppendResult {
  readonly success: boolean;
  readonly nextExpectedRevision: bigint;
  readonly position: FakePosition | undefined;
}

type Check = { kind: 'ok' } | { kind: 'idempotent'; last: FakeRecord } | { kind: 'wrong'; current: bigint };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_POSITION = 2n ** 64n - 1n;

/** What the client makes of a gRPC status the server answers with. */
export function grpcError(code: number, details: string): UnknownError {
  const raw = Object.assign(new Error(`${code} ${details}`), { code, details });
  return new UnknownError(raw as never);
}

export const invalidPosition = (): UnknownError =>
  grpcError(3, 'INVALID_ARGUMENT: Trying to read from an invalid position.');

const cmp = (a: FakePosition, b: FakePosition): number =>
  a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;

const json = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown));

export class FakeEsdbServer {
  /** $all in (commit, prepare) order. */
  readonly all: FakeRecord[] = [];
  private readonly streams = new Map<string, FakeRecord[]>();
  /** Start of every record in the log: the only positions a read may start at. */
  private readonly starts = new Set<bigint>();
  private end = 0n;
  /** Recent commits: event id -> stream and revision (insertion-ordered, oldest evicted). */
  private readonly recent = new Map<string, { streamId: string; revision: bigint }>();
  private readonly order = new Map<FakeRecord, number>();
  private lagFrom: number | null = null;
  /** $maxCount per stream, as set by setStreamMetadata. */
  private readonly maxCounts = new Map<string, number>();
  private held: Array<() => void> | null = null;
  private readonly listeners = new Set<() => void>();
  recentCapacity = 10_000;
  version = '24.10.0';
  /** false: append answers carry no position (servers before idempotent writes reported one). */
  appendPositions = true;
  /** How stream reads report positions: servers before 22.6 sent none (the client shows 0), some send -1 (2^64−1). */
  streamReadPositions: 'present' | 'absent' | 'minus-one' = 'present';
  /** Chance of a system record ($statsCollected) after each event. */
  systemNoise = 0.3;
  /** Every append the server answered, with its expectation (to see what the adapter sends). */
  readonly appends: Array<{ streamId: string; expected: FakeExpected }> = [];

  constructor() {
    this.record(64n); // the epoch record at 0: not an event
    for (let i = 0; i < 5; i++) this.write('$settings', '$settings', {}, undefined, randomUUID());
  }

  /** Forgets every recent commit, as a restart, a leader change or an eviction does. */
  forgetRecentCommits(): void {
    this.recent.clear();
  }

  /** From now on, stream reads that do not require the leader miss everything written after this point. */
  lagFollowers(): void {
    this.lagFrom = this.order.size;
  }

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const waiting = this.held ?? [];
    this.held = null;
    for (const go of waiting) go();
  }

  onWrite(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(size: bigint): bigint {
    const start = this.end;
    this.starts.add(start);
    this.end += size;
    return start;
  }

  private write(
    streamId: string,
    type: string,
    data: unknown,
    metadata: unknown,
    id: string,
    prepare?: bigint,
  ): FakeRecord {
    const s = this.streams.get(streamId) ?? [];
    this.streams.set(streamId, s);
    const size = 96n + BigInt(JSON.stringify(data ?? null).length) + BigInt(Math.floor(Math.random() * 40));
    const start = prepare ?? this.record(size);
    const rec: FakeRecord = {
      streamId,
      id,
      revision: BigInt(s.length),
      type,
      data: json(data),
      metadata,
      isJson: true,
      created: new Date(),
      position: { commit: start, prepare: start },
    };
    s.push(rec);
    this.all.push(rec);
    this.order.set(rec, this.order.size);
    this.remember(id, streamId, rec.revision);
    return rec;
  }

  private remember(id: string, streamId: string, revision: bigint): void {
    this.recent.delete(id);
    this.recent.set(id, { streamId, revision });
    if (this.recent.size > this.recentCapacity) this.recent.delete(this.recent.keys().next().value!);
  }

  /** A system event ($-type), as the server writes them itself. */
  writeSystemEvent(streamId: string, type: string): FakeRecord {
    const rec = this.write(streamId, type, {}, undefined, randomUUID());
    this.notify();
    return rec;
  }

  /** Events of one stream in a legacy TCP transaction: their own prepare records, then one commit record for all. */
  writeLegacyTransaction(streamId: string, events: ReadonlyArray<{ type: string; data: unknown }>): void {
    const prepares = events.map((e) => this.record(96n + BigInt(JSON.stringify(e.data).length)));
    const commit = this.record(48n);
    events.forEach((e, i) => {
      const rec = this.write(streamId, e.type, e.data, undefined, randomUUID(), prepares[i]);
      Object.assign(rec, { position: { commit, prepare: prepares[i]! } });
    });
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** IndexWriter.CheckCommit: what the server decides for a write of `ids` to `streamId` expecting `expected`. */
  private check(streamId: string, expected: FakeExpected, ids: readonly string[]): Check {
    const s = this.streams.get(streamId) ?? [];
    const current = BigInt(s.length - 1);
    if (expected === 'stream_exists' && current < 0n) return { kind: 'wrong', current };
    if (expected === 'any' || expected === 'stream_exists') {
      let last: { streamId: string; revision: bigint } | undefined;
      for (const [i, id] of ids.entries()) {
        const hit = this.recent.get(id);
        // Not a recent commit of this stream: a new write if it is the first id, a corrupted retry otherwise.
        if (!hit || hit.streamId !== streamId) return i === 0 ? { kind: 'ok' } : { kind: 'wrong', current };
        last = hit;
      }
      return { kind: 'idempotent', last: s[Number(last!.revision)]! };
    }
    const exp = expected === 'no_stream' ? -1n : expected;
    if (exp > current) return { kind: 'wrong', current };
    if (exp === current) return { kind: 'ok' };
    let n = exp;
    for (const id of ids) {
      n += 1n;
      // The first id elsewhere is a wrong expected version; a later one a corrupted retry, answered the same way.
      if (s[Number(n)]?.id !== id) return { kind: 'wrong', current };
    }
    return { kind: 'idempotent', last: s[Number(n)]! };
  }

  async append(
    streamId: string,
    events: readonly WireEvent[],
    expected: FakeExpected,
    throwOnAppendFailure: boolean,
  ): Promise<FakeAppendResult> {
    await new Promise((r) => setImmediate(r));
    if (this.held) await new Promise<void>((r) => this.held!.push(r));
    // The server parses ids as GUIDs: anything else fails the call; upper case is stored (and read back) lower case.
    if (!events.every((e) => UUID.test(e.id))) throw grpcError(2, 'UNKNOWN: Exception was thrown by handler.');
    const ids = events.map((e) => e.id.toLowerCase());
    this.appends.push({ streamId, expected });
    const decision = this.check(streamId, expected, ids);
    if (decision.kind === 'wrong') {
      const current = decision.current < 0n ? 'no_stream' : decision.current;
      if (throwOnAppendFailure)
        throw new WrongExpectedVersionError(undefined, { streamName: streamId, expected: expected, current });
      return { success: false, nextExpectedRevision: decision.current, position: undefined };
    }
    if (decision.kind === 'idempotent') return this.answer(decision.last);
    let last: FakeRecord | undefined;
    events.forEach((e, i) => {
      last = this.write(streamId, e.type, e.data, e.metadata, ids[i]!);
      if (Math.random() < this.systemNoise)
        this.write('$stats-127.0.0.1:2113', '$statsCollected', {}, undefined, randomUUID());
    });
    this.notify();
    return this.answer(last!);
  }

  /** Like the server: the position of the batch's last event, as both commit and prepare. */
  private answer(last: FakeRecord): FakeAppendResult {
    const at = last.position.commit;
    return {
      success: true,
      nextExpectedRevision: last.revision,
      position: this.appendPositions ? { commit: at, prepare: at } : undefined,
    };
  }

  /** Writes the stream's metadata (a `$metadata` event in `$$streamId`); only $maxCount takes effect here. */
  async setStreamMetadata(streamId: string, metadata: { maxCount?: number | bigint }): Promise<void> {
    await new Promise((r) => setImmediate(r));
    const data = metadata.maxCount === undefined ? {} : { $maxCount: Number(metadata.maxCount) };
    this.write(`$$${streamId}`, '$metadata', data, undefined, randomUUID());
    if (metadata.maxCount === undefined) this.maxCounts.delete(streamId);
    else this.maxCounts.set(streamId, Number(metadata.maxCount));
    this.notify();
  }

  readStream(
    streamId: string,
    opts: { fromRevision: bigint | 'start' | 'end'; maxCount: number; direction?: string; requiresLeader?: boolean },
  ): FakeRecord[] {
    const seen = (r: FakeRecord): boolean =>
      opts.requiresLeader === true || this.lagFrom === null || this.order.get(r)! < this.lagFrom;
    const all = this.streams.get(streamId) ?? [];
    const cap = this.maxCounts.get(streamId);
    // Revisions below the newest $maxCount are gone from stream reads (revisions keep counting).
    const kept = cap === undefined ? all : all.slice(Math.max(0, all.length - cap));
    const s = kept.filter(seen);
    if (s.length === 0) throw new StreamNotFoundError(undefined, streamId);
    const max = Number(opts.maxCount);
    let recs: FakeRecord[];
    const from = opts.fromRevision;
    if (opts.direction === 'backwards') {
      recs = s.filter((r) => from === 'end' || (typeof from === 'bigint' && r.revision <= from)).reverse();
    } else {
      recs = s.filter((r) => from === 'start' || (typeof from === 'bigint' && r.revision >= from));
    }
    return recs.slice(0, max).map((r) => this.asStreamRead(r));
  }

  private asStreamRead(r: FakeRecord): FakeRecord {
    if (this.streamReadPositions === 'present') return r;
    const p = this.streamReadPositions === 'absent' ? 0n : NO_POSITION;
    return { ...r, position: { commit: p, prepare: p } };
  }

  /** Refuses a start the server could not read from: inside a record, or a prepare beyond its commit. */
  private checkStart(from: FakeReadPosition): void {
    if (typeof from === 'string') return;
    if (from.prepare > from.commit || (from.commit < this.end && !this.starts.has(from.commit)))
      throw invalidPosition();
  }

  readAll(opts: { fromPosition: FakeReadPosition; maxCount: number; direction: string }): FakeRecord[] {
    const from = opts.fromPosition;
    this.checkStart(from);
    let recs: FakeRecord[];
    if (opts.direction === 'backwards') {
      recs = (from === 'end' ? this.all : this.all.filter((r) => typeof from === 'object' && cmp(r.position, from) < 0))
        .slice()
        .reverse();
    } else {
      recs =
        from === 'start' ? this.all : this.all.filter((r) => typeof from === 'object' && cmp(r.position, from) >= 0);
    }
    return recs.slice(0, Number(opts.maxCount));
  }

  /** The events a subscription from `from` gets next, strictly after `after` (null: from the start). */
  next(after: FakePosition | null): FakeRecord | undefined {
    return this.all.find((r) => after === null || cmp(r.position, after) > 0);
  }

  startOf(from: FakeReadPosition): FakePosition | null {
    this.checkStart(from);
    if (from === 'start') return null;
    if (from === 'end') return this.all[this.all.length - 1]?.position ?? null;
    return from;
  }
}
