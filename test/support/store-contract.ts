// The one contract every EventStore adapter must pass.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { LedgerError } from '../../events/errors.js';
import type { EventStore, NewEvent, RecordedEvent } from '../../events/store/types.js';

const ev = (type = 'Thing', data: unknown = { n: 1 }): NewEvent => ({ id: randomUUID(), type, data, metadata: { m: true } });

async function rejectsWith(p: Promise<unknown>, code: string): Promise<LedgerError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(LedgerError);
    expect((e as LedgerError).code).to.equal(code);
    return e as LedgerError;
  }
  throw new Error(`expected rejection with ${code}`);
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
