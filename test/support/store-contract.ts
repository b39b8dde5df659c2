// The one contract every EventStore adapter must pass, and a store wrapper tests use to watch or disturb a store.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { LedgerError } from '../../events/errors.js';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { makeLedger, seedOwner, type TestLedger } from './ledger.js';
import { rejectsWith } from './async.js';
import { tempDir } from './tmp.js';
import type { AppendResult, EventStore, ExpectedRevision, NewEvent, RecordedEvent } from '../../events/store/types.js';

type Args<K extends keyof EventStore> = EventStore[K] extends (...a: infer P) => unknown ? P : never;

export type AppendHook = (
  streamId: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision | undefined,
  next: () => Promise<AppendResult>,
) => Promise<AppendResult>;

/** Delegates to a real store; records which streams were read and lets a test intercept appends (`next` appends). */
export class InterceptedStore implements EventStore {
  readonly kind: string;
  readonly streamReads: string[] = [];
  onAppend: AppendHook | null = null;
  constructor(readonly inner: EventStore) {
    this.kind = inner.kind;
  }
  append(streamId: string, events: readonly NewEvent[], expected?: ExpectedRevision): Promise<AppendResult> {
    const next = (): Promise<AppendResult> => this.inner.append(streamId, events, expected);
    return this.onAppend ? this.onAppend(streamId, events, expected, next) : next();
  }
  readStream(streamId: string, opts?: { fromRevision?: number; maxCount?: number }): Promise<RecordedEvent[]> {
    this.streamReads.push(streamId);
    return this.inner.readStream(streamId, opts);
  }
  readAll(...a: Args<'readAll'>): ReturnType<EventStore['readAll']> {
    return this.inner.readAll(...a);
  }
  subscribeAll(...a: Args<'subscribeAll'>): ReturnType<EventStore['subscribeAll']> {
    return this.inner.subscribeAll(...a);
  }
  headPosition(): Promise<number> {
    return this.inner.headPosition();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const ev = (type = 'Thing', data: unknown = { n: 1 }): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { m: true },
});

/** A SQLite store at `file`, wrapped for interception. */
export function interceptedSqlite(file: string): InterceptedStore {
  return new InterceptedStore(new SqliteEventStore(file, { pollIntervalMs: 20 }));
}

/** Fails, before writing, the first append of an event of `type` (to `streamId` if given); answers how many it failed. */
export function failFirstAppendOf(store: InterceptedStore, type: string, err: Error, streamId?: string): () => number {
  let failed = 0;
  store.onAppend = (s, events, expected, next) => {
    if (failed > 0 || events[0]?.type !== type || (streamId !== undefined && s !== streamId)) return next();
    failed++;
    return Promise.reject(err);
  };
  return () => failed;
}

/** A test ledger with a seeded owner over an intercepted SQLite store, in its own temporary folder. */
export async function interceptedLedger(label: string): Promise<{
  t: TestLedger;
  store: InterceptedStore;
  owner: { userId: string; workspaceId: string };
  dispose: () => Promise<void>;
}> {
  const dir = tempDir(label);
  const store = interceptedSqlite(join(dir.path, 'ledger.db'));
  const t = await makeLedger({ dir: dir.path, store });
  const owner = await seedOwner(t.ledger);
  return {
    t,
    store,
    owner,
    dispose: async () => {
      await t.dispose();
      dir.cleanup();
    },
  };
}

export function storeContract(make: () => Promise<{ store: EventStore; dispose: () => Promise<void> }>): void {
  let store: EventStore;
  let dispose: () => Promise<void>;
  let s: string; // a fresh stream per test
  beforeEach(async () => {
    ({ store, dispose } = await make());
    s = `test-${randomUUID()}`;
  });
  afterEach(async () => dispose());

  describe('append and read a stream', () => {
    it('writes events with consecutive revisions and returns them in order', async () => {
      const r = await store.append(s, [ev('A'), ev('B')], 'no_stream');
      expect(r.nextRevision).to.equal(1);
      const events = await store.readStream(s);
      expect(events.map((e) => [e.type, e.revision])).to.deep.equal([
        ['A', 0],
        ['B', 1],
      ]);
      expect(events[0]!.data).to.deep.equal({ n: 1 });
      expect(events[0]!.metadata).to.deep.equal({ m: true });
      expect(events[1]!.position).to.be.greaterThan(events[0]!.position);
    });
    it('reads an unknown stream as empty', async () => {
      expect(await store.readStream(`${s}-none`)).to.deep.equal([]);
    });
    it('reads from a revision with a max count', async () => {
      await store.append(s, [ev('A'), ev('B'), ev('C')]);
      const events = await store.readStream(s, { fromRevision: 1, maxCount: 1 });
      expect(events.map((e) => e.type)).to.deep.equal(['B']);
    });
    it('reads a long stream whole and in order', async () => {
      const n = 1200;
      for (let i = 0; i < n; i += 200)
        await store.append(
          s,
          Array.from({ length: 200 }, (_, j) => ev('L', { i: i + j })),
        );
      const all = await store.readStream(s);
      expect(all.map((e) => (e.data as { i: number }).i)).to.deep.equal([...Array(n).keys()]);
      expect(all.map((e) => e.revision)).to.deep.equal([...Array(n).keys()]);
      const tail = await store.readStream(s, { fromRevision: 1000, maxCount: 150 });
      expect(tail.map((e) => e.revision)).to.deep.equal(Array.from({ length: 150 }, (_, j) => 1000 + j));
    });
  });

  describe('expected revision', () => {
    it('no_stream fails when the stream exists', async () => {
      await store.append(s, [ev()]);
      await rejectsWith(store.append(s, [ev()], 'no_stream'), 'CONCURRENCY');
    });
    it('stream_exists fails when the stream does not exist', async () => {
      await rejectsWith(store.append(s, [ev()], 'stream_exists'), 'CONCURRENCY');
      await store.append(s, [ev()]);
      await store.append(s, [ev()], 'stream_exists');
    });
    it('an exact revision must match the head', async () => {
      await store.append(s, [ev(), ev()]);
      await rejectsWith(store.append(s, [ev()], 0), 'CONCURRENCY');
      const r = await store.append(s, [ev()], 1);
      expect(r.nextRevision).to.equal(2);
    });
    it('of two concurrent appends at the same revision exactly one wins', async () => {
      await store.append(s, [ev()]);
      const results = await Promise.allSettled([store.append(s, [ev('X')], 0), store.append(s, [ev('Y')], 0)]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r) => r.status === 'rejected');
      expect(ok).to.have.length(1);
      expect(failed).to.have.length(1);
      const reason = (failed[0] as PromiseRejectedResult).reason as LedgerError;
      expect(reason.code).to.equal('CONCURRENCY');
      expect(reason.retriable).to.equal(true);
      expect(await store.readStream(s)).to.have.length(2);
    });
  });

  describe('idempotent retry', () => {
    it('re-sending the same event ids does not write twice and returns the same result', async () => {
      const batch = [ev('A'), ev('B')];
      const first = await store.append(s, batch, 'no_stream');
      const again = await store.append(s, batch, 'no_stream');
      expect(again).to.deep.equal(first);
      expect(await store.readStream(s)).to.have.length(2);
    });
    it('re-using an event id in another stream is refused', async () => {
      const e = ev();
      await store.append(s, [e]);
      await rejectsWith(store.append(`${s}-other`, [e]), 'IDEMPOTENCY_CONFLICT');
    });
    it('a retry returns the original result even after the stream has moved on', async () => {
      const batch = [ev('A')];
      const first = await store.append(s, batch, 'no_stream');
      await store.append(s, [ev('B')], 0);
      expect(await store.append(s, batch, 'no_stream')).to.deep.equal(first);
      expect((await store.readStream(s)).map((e) => e.type)).to.deep.equal(['A', 'B']);
    });
    it('a batch whose ids are only partly written already is refused and writes nothing', async () => {
      const a = ev('A');
      const b = ev('B');
      await store.append(s, [a, b]);
      await rejectsWith(store.append(s, [a, ev('C')]), 'IDEMPOTENCY_CONFLICT');
      await rejectsWith(store.append(s, [ev('D'), b]), 'IDEMPOTENCY_CONFLICT');
      expect((await store.readStream(s)).map((e) => e.type)).to.deep.equal(['A', 'B']);
    });
  });

  describe('one append failing among concurrent ones', () => {
    it('a refused multi-event append is atomic and does not fail the appends issued with it', async () => {
      const taken = ev('T');
      await store.append(`${s}-t`, [taken]);
      const head = await store.headPosition();
      // Issued together, so a grouping store commits them in one group.
      const [before, bad, after, last] = await Promise.allSettled([
        store.append(`${s}-1`, [ev('B1')]),
        store.append(`${s}-2`, [ev('X1'), ev('X2'), taken]),
        store.append(`${s}-3`, [ev('A1'), ev('A2')]),
        store.append(`${s}-4`, [ev('B2')]),
      ]);
      expect(bad.status).to.equal('rejected');
      expect(((bad as PromiseRejectedResult).reason as LedgerError).code).to.equal('IDEMPOTENCY_CONFLICT');
      for (const r of [before, after, last]) expect(r.status).to.equal('fulfilled');
      expect(await store.readStream(`${s}-2`)).to.deep.equal([]);
      const page = await store.readAll({ after: head, maxCount: 100 });
      const mine = page.events.filter((e) => e.streamId.startsWith(s));
      expect(mine.map((e) => e.type).sort()).to.deep.equal(['A1', 'A2', 'B1', 'B2']);
      expect((await store.readStream(`${s}-3`)).map((e) => e.revision)).to.deep.equal([0, 1]);
      const positions = mine.map((e) => e.position);
      expect(positions).to.deep.equal([...positions].sort((x, y) => x - y));
    });
    it('data that cannot be serialized fails only its own append, with a TypeError', async () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const results = await Promise.allSettled([
        store.append(`${s}-1`, [ev('OK1')]),
        store.append(`${s}-2`, [ev('Bad', { n: 1n })]),
        store.append(`${s}-3`, [ev('Bad', cyclic)]),
        store.append(`${s}-4`, [ev('OK2')]),
      ]);
      expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      for (const r of [results[1], results[2]]) expect((r as PromiseRejectedResult).reason).to.be.instanceOf(TypeError);
      expect(await store.readStream(`${s}-2`)).to.deep.equal([]);
      expect(await store.readStream(`${s}-3`)).to.deep.equal([]);
    });
    it('stores falsy data and metadata as written', async () => {
      for (const v of [null, 0, false, ''])
        await store.append(s, [{ id: randomUUID(), type: 'F', data: v, metadata: v }]);
      expect((await store.readStream(s)).map((e) => [e.data, e.metadata])).to.deep.equal([
        [null, null],
        [0, 0],
        [false, false],
        ['', ''],
      ]);
    });
  });

  describe('read all', () => {
    it('pages through the global log in commit order', async () => {
      const start = await store.headPosition();
      for (let i = 0; i < 25; i++) await store.append(`${s}-${i % 3}`, [ev('P', { i })]);
      const seen: number[] = [];
      let after = start;
      for (;;) {
        const page = await store.readAll({ after, maxCount: 7 });
        expect(page.events.length).to.be.at.most(7);
        for (const e of page.events) seen.push((e.data as { i: number }).i);
        after = page.lastPosition;
        if (page.isEnd) break;
      }
      expect(seen).to.deep.equal([...Array(25).keys()]);
    });
  });

  describe('subscribe to all', () => {
    it('catches up from a position, then delivers live events in order', async () => {
      await store.append(s, [ev('A')]);
      const mark = await store.headPosition();
      await store.append(s, [ev('B'), ev('C')]);
      const got: RecordedEvent[] = [];
      let resolveLive!: () => void;
      const live = new Promise<void>((r) => (resolveLive = r));
      const sub = store.subscribeAll(
        (e) => {
          if (e.streamId !== s) return;
          got.push(e);
          if (e.type === 'D') resolveLive();
        },
        { after: mark },
      );
      await sub.caughtUp;
      expect(got.map((e) => e.type)).to.deep.equal(['B', 'C']);
      await store.append(s, [ev('D')]);
      await live;
      await sub.close();
      expect(got.map((e) => e.type)).to.deep.equal(['B', 'C', 'D']);
    });
    it('from the start sees every event of the stream', async () => {
      await store.append(s, [ev('A'), ev('B')]);
      const got: string[] = [];
      const sub = store.subscribeAll((e) => {
        if (e.streamId === s) got.push(e.type);
      });
      await sub.caughtUp;
      await sub.close();
      expect(got).to.deep.equal(['A', 'B']);
    });
    it('waits for an async handler before delivering the next event', async () => {
      await store.append(s, [ev('A'), ev('B'), ev('C')]);
      const order: string[] = [];
      const sub = store.subscribeAll(async (e) => {
        if (e.streamId !== s) return;
        order.push(`start ${e.type}`);
        await new Promise((r) => setImmediate(r));
        order.push(`end ${e.type}`);
      });
      await sub.caughtUp;
      await sub.close();
      expect(order).to.deep.equal(['start A', 'end A', 'start B', 'end B', 'start C', 'end C']);
    });
  });
}
