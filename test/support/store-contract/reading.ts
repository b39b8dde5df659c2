// Contract: the global log (pages, positions, the first event at or after a position) and subscriptions to it.
import { expect } from 'chai';
import type { LedgerError } from '../../../events/errors.js';
import type { RecordedEvent } from '../../../events/store/types.js';
import { rejectsWith, waitUntil } from '../async.js';
import { ALL, ESDB, SQL, type Ctx, ev, guaranteed } from './harness.js';

export function readingCases(ctx: Ctx): void {
  readAllCases(ctx);
  positionCases(ctx);
  subscriptionCases(ctx);
}

function readAllCases(ctx: Ctx): void {
  describe('read all', () => {
    guaranteed(ctx, ALL, 'pages through the global log in commit order, whichever instance wrote', async () => {
      const { store, other } = ctx.stores();
      const s = ctx.stream();
      const start = await store.headPosition();
      for (let i = 0; i < 25; i++) await (i % 2 === 0 ? store : other).append(`${s}-${i % 3}`, [ev('P', { i })]);
      const seen: RecordedEvent[] = [];
      let after = start;
      for (;;) {
        const page = await other.readAll({ after, maxCount: 7 });
        expect(page.events.length).to.be.at.most(7);
        seen.push(...page.events.filter((e) => e.streamId.startsWith(s)));
        after = page.lastPosition;
        if (page.isEnd) break;
      }
      expect(seen.map((e) => (e.data as { i: number }).i)).to.deep.equal([...Array(25).keys()]);
      const positions = seen.map((e) => e.position);
      expect(new Set(positions).size).to.equal(25);
      expect(positions).to.deep.equal([...positions].sort((x, y) => x - y));
      for (const k of [0, 1, 2])
        expect(seen.filter((e) => e.streamId === `${s}-${k}`).map((e) => e.revision)).to.deep.equal([
          ...Array(k === 0 ? 9 : 8).keys(),
        ]);
    });
  });
}

function positionCases(ctx: Ctx): void {
  describe('positions', () => {
    guaranteed(
      ctx,
      ALL,
      'the first event at or after a position handed out: the event there, or the next one',
      async () => {
        const { store, other } = ctx.stores();
        const s = ctx.stream();
        const mark = await store.headPosition();
        const a = await store.append(s, [ev('A')]);
        const b = await other.append(s, [ev('B')]);
        expect((await other.firstEventAtOrAfter(a.position))?.type).to.equal('A');
        expect((await store.firstEventAtOrAfter(b.position))?.type).to.equal('B');
        const next = await store.firstEventAtOrAfter(mark);
        expect(next?.position).to.be.at.most(a.position);
        const first = await store.firstEventAtOrAfter(-1);
        expect(first?.position).to.be.at.most(a.position);
        const page = await store.readAll({ after: mark, maxCount: 1 });
        expect((await store.firstEventAtOrAfter(page.lastPosition))?.position).to.equal(page.lastPosition);
      },
    );
    guaranteed(
      ctx,
      ALL,
      'a position beyond the newest one, or not a whole number, is INVALID_POSITION (not retriable)',
      async () => {
        const { store } = ctx.stores();
        const s = ctx.stream();
        const r = await store.append(s, [ev('A')]);
        for (const bad of [r.position + 1_000_000_000, -2, 1.5, Number.NaN]) {
          const e = await rejectsWith(store.firstEventAtOrAfter(bad), 'INVALID_POSITION');
          expect(e.retriable, String(bad)).to.equal(false);
        }
      },
    );
    guaranteed(ctx, SQL, 'every whole number up to the head is a position (they are dense)', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      const a = await store.append(s, [ev('A'), ev('B')]);
      expect((await store.firstEventAtOrAfter(a.position - 1))?.type).to.equal('A');
      expect((await store.readAll({ after: a.position - 1, maxCount: 1 })).events.map((e) => e.type)).to.deep.equal([
        'B',
      ]);
      expect((await store.readAll({ after: a.position + 1_000, maxCount: 1 })).events).to.deep.equal([]);
    });
    guaranteed(
      ctx,
      ESDB,
      'a number inside a record or beyond the log is refused by every read (INVALID_POSITION)',
      async () => {
        const { store } = ctx.stores();
        const s = ctx.stream();
        const a = await store.append(s, [ev('A')]);
        await store.append(s, [ev('B')]);
        const inside = a.position + 1;
        await rejectsWith(store.firstEventAtOrAfter(inside), 'INVALID_POSITION');
        await rejectsWith(store.readAll({ after: inside, maxCount: 1 }), 'INVALID_POSITION');
        await rejectsWith(store.readAll({ after: a.position + 1_000_000_000, maxCount: 1 }), 'INVALID_POSITION');
        const errors: unknown[] = [];
        const sub = store.subscribeAll(() => undefined, { after: inside, onError: (e) => errors.push(e) });
        await rejectsWith(sub.caughtUp, 'INVALID_POSITION');
        await sub.close();
        expect(errors.map((e) => (e as LedgerError).code)).to.deep.equal(['INVALID_POSITION']);
      },
    );
  });
}

function subscriptionCases(ctx: Ctx): void {
  describe('subscribe to all', () => {
    guaranteed(ctx, ALL, 'catches up from a position, then delivers live events in order', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      await store.append(s, [ev('A')]);
      const mark = await store.headPosition();
      await store.append(s, [ev('B'), ev('C')]);
      const got: RecordedEvent[] = [];
      const sub = store.subscribeAll((e) => void (e.streamId === s && got.push(e)), { after: mark });
      await sub.caughtUp;
      expect(got.map((e) => e.type)).to.deep.equal(['B', 'C']);
      await store.append(s, [ev('D')]);
      await waitUntil(() => got.length === 3, 10_000, 'the live event');
      await sub.close();
      expect(got.map((e) => e.type)).to.deep.equal(['B', 'C', 'D']);
    });
    guaranteed(ctx, ALL, 'delivers what another instance appends', async () => {
      const { store, other } = ctx.stores();
      const s = ctx.stream();
      const got: string[] = [];
      const sub = store.subscribeAll((e) => void (e.streamId === s && got.push(e.type)), {
        after: await store.headPosition(),
      });
      await sub.caughtUp;
      await other.append(s, [ev('X'), ev('Y')]);
      await waitUntil(() => got.length === 2, 10_000, "the other instance's events");
      await sub.close();
      expect(got).to.deep.equal(['X', 'Y']);
    });
    guaranteed(ctx, ALL, 'from the start sees every event of the stream', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      await store.append(s, [ev('A'), ev('B')]);
      const got: string[] = [];
      const sub = store.subscribeAll((e) => void (e.streamId === s && got.push(e.type)));
      await sub.caughtUp;
      await sub.close();
      expect(got).to.deep.equal(['A', 'B']);
    });
    guaranteed(ctx, ALL, 'waits for an async handler before delivering the next event', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
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
