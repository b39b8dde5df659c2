// Contract: retries with the same event ids, and ids that are reused. Where EventStoreDB guarantees less, a case
// labelled with it alone states what it does instead (see the guarantees in events/store/types.ts).
import { expect } from 'chai';
import { rejectsWith } from '../async.js';
import { ALL, ESDB, SQL, type Ctx, ev, guaranteed } from './harness.js';

export function idempotencyCases(ctx: Ctx): void {
  retryCases(ctx);
  reuseCases(ctx);
}

function retryCases(ctx: Ctx): void {
  describe('idempotent retry', () => {
    guaranteed(
      ctx,
      ALL,
      'a retry at the first revision, through the other instance, returns the original result',
      async () => {
        const { store, other } = ctx.stores();
        const s = ctx.stream();
        const batch = [ev('A'), ev('B')];
        const first = await store.append(s, batch, 'no_stream');
        expect(await other.append(s, batch, 'no_stream')).to.deep.equal(first);
        await store.append(s, [ev('C')], 1);
        expect(await other.append(s, batch, 'no_stream')).to.deep.equal(first);
        expect((await store.readStream(s)).map((e) => e.type)).to.deep.equal(['A', 'B', 'C']);
      },
    );
    guaranteed(ctx, ALL, 'a retry returns the original result even after the stream has moved on', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      const batch = [ev('A')];
      const first = await store.append(s, batch, 'no_stream');
      for (let i = 0; i < 120; i++) await store.append(s, [ev('B')], i);
      expect(await store.append(s, batch, 'no_stream')).to.deep.equal(first);
      expect(await store.readStream(s)).to.have.length(121);
    });
    for (const expected of ['any', 'stream_exists'] as const) {
      guaranteed(
        ctx,
        ALL,
        `a retry with \`${expected}\` through the other instance, after the backend forgot its recent commits, returns the original result`,
        async () => {
          const { store, other, forgetRecentCommits } = ctx.stores();
          const s = ctx.stream();
          await store.append(s, [ev('Open')]);
          const batch = [ev('U1'), ev('U2')];
          const first = await store.append(s, batch, expected);
          await store.append(s, [ev('Later')]);
          forgetRecentCommits?.();
          expect(await other.append(s, batch, expected)).to.deep.equal(first);
          expect((await store.readStream(s)).map((e) => e.type)).to.deep.equal(['Open', 'U1', 'U2', 'Later']);
        },
      );
    }
    guaranteed(ctx, SQL, 'an `any` retry is recognised however far the stream has moved on', async () => {
      const { store, other } = ctx.stores();
      const s = ctx.stream();
      const batch = [ev('A')];
      const first = await store.append(s, batch);
      for (let i = 0; i < 120; i++) await store.append(s, [ev('B')]);
      expect(await other.append(s, batch)).to.deep.equal(first);
      expect(await store.readStream(s)).to.have.length(121);
    });
  });
}

function reuseCases(ctx: Ctx): void {
  describe('ids already used', () => {
    guaranteed(ctx, ALL, 'a batch that only partly repeats a written one is refused and writes nothing', async () => {
      const { store, other } = ctx.stores();
      const s = ctx.stream();
      const a = ev('A');
      const b = ev('B');
      await store.append(s, [a, b]);
      await rejectsWith(other.append(s, [a, ev('C')]), 'IDEMPOTENCY_CONFLICT');
      await rejectsWith(other.append(s, [ev('D'), b], 'stream_exists'), 'IDEMPOTENCY_CONFLICT');
      expect((await store.readStream(s)).map((e) => e.type)).to.deep.equal(['A', 'B']);
    });
    guaranteed(
      ctx,
      ALL,
      'a partial repeat at the revision of the first write is IDEMPOTENCY_CONFLICT, not CONCURRENCY',
      async () => {
        const { store, other } = ctx.stores();
        const s = ctx.stream();
        const a = ev('A');
        await store.append(s, [a, ev('B')], 'no_stream');
        const e = await rejectsWith(other.append(s, [a, ev('C')], 'no_stream'), 'IDEMPOTENCY_CONFLICT');
        expect(e.retriable).to.equal(false);
        await store.append(s, [ev('D')], 1);
        await rejectsWith(store.append(s, [a, ev('E'), ev('F')], 'no_stream'), 'IDEMPOTENCY_CONFLICT');
        expect((await store.readStream(s)).map((x) => x.type)).to.deep.equal(['A', 'B', 'D']);
      },
    );
    guaranteed(ctx, ALL, 'the same ids with another type are not a retry', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      const a = ev('A');
      await store.append(s, [a], 'no_stream');
      await rejectsWith(store.append(s, [{ ...a, type: 'X' }]), 'IDEMPOTENCY_CONFLICT');
    });
    guaranteed(ctx, SQL, 're-using an event id in another stream is refused', async () => {
      const { store, other } = ctx.stores();
      const s = ctx.stream();
      const e = ev();
      await store.append(s, [e]);
      await rejectsWith(other.append(`${s}-other`, [e]), 'IDEMPOTENCY_CONFLICT');
    });
    guaranteed(
      ctx,
      ESDB,
      'ids are unique per stream only: an id reused in another stream is written there too',
      async () => {
        const { store, other } = ctx.stores();
        const s = ctx.stream();
        const e = ev();
        await store.append(s, [e]);
        await other.append(`${s}-other`, [e]);
        expect((await store.readStream(`${s}-other`)).map((r) => r.id)).to.deep.equal([e.id]);
      },
    );
    guaranteed(ctx, SQL, 'a new id followed by a used one, at the exact head revision, is refused', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      const a = ev('A');
      await store.append(s, [a], 'no_stream');
      await rejectsWith(store.append(s, [ev('N'), a], 0), 'IDEMPOTENCY_CONFLICT');
    });
    guaranteed(ctx, ESDB, 'a new id followed by a used one, at the exact head revision, is written as is', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      const a = ev('A');
      await store.append(s, [a], 'no_stream');
      const n = ev('N');
      await store.append(s, [n, a], 0);
      expect((await store.readStream(s)).map((e) => e.id)).to.deep.equal([a.id, n.id, a.id]);
    });
  });
}
