// Contract: appending and reading one stream, expected revisions, failures that stay with their own append, event ids.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { LedgerError } from '../../../events/errors.js';
import { rejectsWith } from '../async.js';
import { ALL, SQL, type Ctx, ev, guaranteed } from './harness.js';

export function appendCases(ctx: Ctx): void {
  streamCases(ctx);
  expectationCases(ctx);
  failureCases(ctx);
  idCases(ctx);
}

function streamCases(ctx: Ctx): void {
  describe('append and read a stream', () => {
    guaranteed(ctx, ALL, 'writes events with consecutive revisions and returns them in order', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
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
      expect(r.position).to.equal(events[1]!.position);
    });
    guaranteed(ctx, ALL, 'reads an unknown stream as empty', async () => {
      expect(await ctx.stores().store.readStream(`${ctx.stream()}-none`)).to.deep.equal([]);
    });
    guaranteed(ctx, ALL, 'reads from a revision with a max count', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      await store.append(s, [ev('A'), ev('B'), ev('C')]);
      expect((await store.readStream(s, { fromRevision: 1, maxCount: 1 })).map((e) => e.type)).to.deep.equal(['B']);
    });
    guaranteed(ctx, ALL, 'reads a long stream whole and in order', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
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
    guaranteed(
      ctx,
      ALL,
      'another instance reads what one instance wrote, with the same revisions and positions',
      async () => {
        const { store, other } = ctx.stores();
        const s = ctx.stream();
        const r = await store.append(s, [ev('A'), ev('B')]);
        const seen = await other.readStream(s);
        expect(seen.map((e) => [e.type, e.revision])).to.deep.equal([
          ['A', 0],
          ['B', 1],
        ]);
        expect(seen[1]!.position).to.equal(r.position);
      },
    );
  });
}

function expectationCases(ctx: Ctx): void {
  describe('expected revision', () => {
    guaranteed(ctx, ALL, 'no_stream fails when the stream exists', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      await store.append(s, [ev()]);
      await rejectsWith(store.append(s, [ev()], 'no_stream'), 'CONCURRENCY');
    });
    guaranteed(ctx, ALL, 'stream_exists fails when the stream does not exist', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      await rejectsWith(store.append(s, [ev()], 'stream_exists'), 'CONCURRENCY');
      await store.append(s, [ev()]);
      await store.append(s, [ev()], 'stream_exists');
      expect(await store.readStream(s)).to.have.length(2);
    });
    guaranteed(ctx, ALL, 'an exact revision must match the head', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      await store.append(s, [ev(), ev()]);
      await rejectsWith(store.append(s, [ev()], 0), 'CONCURRENCY');
      const r = await store.append(s, [ev()], 1);
      expect(r.nextRevision).to.equal(2);
    });
    guaranteed(
      ctx,
      ALL,
      'of two concurrent appends at one revision, through two instances, exactly one wins',
      async () => {
        const { store, other } = ctx.stores();
        const s = ctx.stream();
        await store.append(s, [ev()]);
        const results = await Promise.allSettled([store.append(s, [ev('X')], 0), other.append(s, [ev('Y')], 0)]);
        const failed = results.filter((r) => r.status === 'rejected');
        expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
        expect(failed).to.have.length(1);
        const reason = (failed[0] as PromiseRejectedResult).reason as LedgerError;
        expect(reason.code).to.equal('CONCURRENCY');
        expect(reason.retriable).to.equal(true);
        expect(await store.readStream(s)).to.have.length(2);
      },
    );
    guaranteed(
      ctx,
      ALL,
      'concurrent `any` appends through two instances all land once, at consecutive revisions',
      async () => {
        const { store, other } = ctx.stores();
        const s = ctx.stream();
        const batches = Array.from({ length: 8 }, (_, i) => [ev('N', { i })]);
        const results = await Promise.all(batches.map((b, i) => (i % 2 === 0 ? store : other).append(s, b, 'any')));
        const events = await other.readStream(s);
        expect(events.map((e) => e.revision)).to.deep.equal([...Array(8).keys()]);
        expect(events.map((e) => (e.data as { i: number }).i).sort()).to.deep.equal([...Array(8).keys()]);
        expect(results.map((r) => r.nextRevision).sort()).to.deep.equal([...Array(8).keys()]);
      },
    );
  });
}

function failureCases(ctx: Ctx): void {
  describe('one append failing among concurrent ones', () => {
    guaranteed(
      ctx,
      ALL,
      'a refused multi-event append is atomic and does not fail the appends issued with it',
      async () => {
        const { store } = ctx.stores();
        const s = ctx.stream();
        await store.append(`${s}-2`, [ev('T')]);
        const head = await store.headPosition();
        // Issued together, so a grouping store commits them in one group.
        const [before, bad, after, last] = await Promise.allSettled([
          store.append(`${s}-1`, [ev('B1')]),
          store.append(`${s}-2`, [ev('X1'), ev('X2'), ev('X3')], 'no_stream'),
          store.append(`${s}-3`, [ev('A1'), ev('A2')]),
          store.append(`${s}-4`, [ev('B2')]),
        ]);
        expect(bad.status).to.equal('rejected');
        expect(((bad as PromiseRejectedResult).reason as LedgerError).code).to.equal('CONCURRENCY');
        for (const r of [before, after, last]) expect(r.status).to.equal('fulfilled');
        expect((await store.readStream(`${s}-2`)).map((e) => e.type)).to.deep.equal(['T']);
        const page = await store.readAll({ after: head, maxCount: 100 });
        const mine = page.events.filter((e) => e.streamId.startsWith(s));
        expect(mine.map((e) => e.type).sort()).to.deep.equal(['A1', 'A2', 'B1', 'B2']);
        expect((await store.readStream(`${s}-3`)).map((e) => e.revision)).to.deep.equal([0, 1]);
        const positions = mine.map((e) => e.position);
        expect(positions).to.deep.equal([...positions].sort((x, y) => x - y));
      },
    );
    guaranteed(ctx, SQL, 'an append refused for an id used in another stream is atomic and fails alone', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
      const taken = ev('T');
      await store.append(`${s}-t`, [taken]);
      const [before, bad, after] = await Promise.allSettled([
        store.append(`${s}-1`, [ev('B1')]),
        store.append(`${s}-2`, [ev('X1'), ev('X2'), taken]),
        store.append(`${s}-3`, [ev('A1')]),
      ]);
      expect(((bad as PromiseRejectedResult).reason as LedgerError).code).to.equal('IDEMPOTENCY_CONFLICT');
      for (const r of [before, after]) expect(r.status).to.equal('fulfilled');
      expect(await store.readStream(`${s}-2`)).to.deep.equal([]);
    });
    guaranteed(ctx, ALL, 'data that cannot be serialized fails only its own append, with a TypeError', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
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
    guaranteed(ctx, ALL, 'stores falsy data and metadata as written', async () => {
      const { store } = ctx.stores();
      const s = ctx.stream();
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
}

function idCases(ctx: Ctx): void {
  describe('event ids', () => {
    guaranteed(
      ctx,
      ALL,
      'an id that is not a lowercase UUID is a TypeError for its own append; nothing is written',
      async () => {
        const { store } = ctx.stores();
        const s = ctx.stream();
        const upper = randomUUID().toUpperCase();
        const results = await Promise.allSettled([
          store.append(`${s}-1`, [ev('OK1')]),
          store.append(`${s}-2`, [{ ...ev('Bad'), id: upper }]),
          store.append(`${s}-3`, [ev('A'), { ...ev('Bad'), id: 'e1' }]),
          store.append(`${s}-4`, [{ ...ev('Bad'), id: `{${randomUUID()}}` }]),
          store.append(`${s}-5`, [ev('OK2')]),
        ]);
        expect(results.map((r) => r.status)).to.deep.equal([
          'fulfilled',
          'rejected',
          'rejected',
          'rejected',
          'fulfilled',
        ]);
        for (const r of results.slice(1, 4)) expect((r as PromiseRejectedResult).reason).to.be.instanceOf(TypeError);
        for (const i of [2, 3, 4]) expect(await store.readStream(`${s}-${i}`)).to.deep.equal([]);
      },
    );
    guaranteed(ctx, ALL, 'an event is read back with exactly the id it was written with', async () => {
      const { store, other } = ctx.stores();
      const s = ctx.stream();
      const e = ev('A');
      await store.append(s, [e]);
      expect((await other.readStream(s)).map((r) => r.id)).to.deep.equal([e.id]);
    });
  });
}
