// The EventStoreDB adapter against the server's real rules, one block per defect found by reading it (issue 13), over
// the faithful fake server. Each of these failed on the adapter before the fix.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { LedgerError } from '../../events/errors.js';
import { EsdbEventStore, type EsdbStoreOptions } from '../../events/store/esdb.js';
import type { NewEvent } from '../../events/store/types.js';
import { streams } from '../../events/catalog.js';
import { SYSTEM } from '../../services/ledger.js';
import { rejectsWith, waitUntil } from '../support/async.js';
import { FakeEsdbClient } from '../support/fake-esdb/client.js';
import { FakeEsdbServer } from '../support/fake-esdb/server.js';
import { makeLedger, seedOwner } from '../support/ledger.js';

const FAKE_URL = 'esdb://fake:2113?tls=false';
const ev = (type: string, data: unknown = {}): NewEvent => ({ id: randomUUID(), type, data, metadata: { m: 1 } });

/** One fake server and two store instances on it, each with its own connection, as two processes would have. */
function pair(opts: EsdbStoreOptions = {}, clientOpts: { throwOnAppendFailure?: boolean } = {}) {
  const server = new FakeEsdbServer();
  const client = new FakeEsdbClient(server, clientOpts);
  const otherClient = new FakeEsdbClient(server, clientOpts);
  const store = new EsdbEventStore(FAKE_URL, { ...opts, client });
  const other = new EsdbEventStore(FAKE_URL, { ...opts, client: otherClient });
  return { server, client, otherClient, store, other, close: () => Promise.all([store.close(), other.close()]) };
}

describe('EventStoreDB adapter: the defects of issue 13', () => {
  describe('1. retries with `any` or `stream_exists` never write twice', () => {
    it('a stream_exists retry after the server forgot its recent commits returns the original result', async () => {
      const { server, store, close } = pair();
      await store.append('k', [ev('Open')]);
      const used = [ev('Used')];
      const first = await store.append('k', used, 'stream_exists');
      server.forgetRecentCommits(); // a restart, a leader change or an eviction
      expect(await store.append('k', used, 'stream_exists')).to.deep.equal(first);
      expect((await store.readStream('k')).map((e) => e.type)).to.deep.equal(['Open', 'Used']);
      await close();
    });

    it('a retry through the instance whose answer was lost is recognised however far the stream moved on', async () => {
      const { server, client, store, other, close } = pair({ idempotencyWindow: 5 });
      await store.append('k', [ev('Open')]);
      const used = [ev('Used')];
      client.loseNextAppendResponse = true;
      const lost = await rejectsWith(store.append('k', used, 'stream_exists'), 'STORE_UNAVAILABLE');
      expect(lost.retriable).to.equal(true);
      for (let i = 0; i < 12; i++) await other.append('k', [ev('Other')]);
      server.forgetRecentCommits();
      const again = await store.append('k', used, 'stream_exists');
      const events = await store.readStream('k');
      expect(events.filter((e) => e.id === used[0]!.id)).to.have.length(1);
      expect(again).to.deep.equal({ nextRevision: 1, position: events[1]!.position });
      await close();
    });

    it('under contention from many instances, every `any` batch lands exactly once', async () => {
      const server = new FakeEsdbServer();
      const stores = Array.from(
        { length: 8 },
        () => new EsdbEventStore(FAKE_URL, { client: new FakeEsdbClient(server) }),
      );
      const batches = stores.flatMap((s, i) => [0, 1, 2].map((j) => ({ s, batch: [ev('N', { n: i * 3 + j })] })));
      const results = await Promise.all(batches.map(({ s, batch }) => s.append('hot', batch, 'any')));
      // Some lost the head five times in a row and left it to the server: that path is exercised too.
      expect(server.appends.some((a) => a.expected === 'any')).to.equal(true);
      // A retry of every batch, after the server forgot, writes nothing more.
      server.forgetRecentCommits();
      const again = await Promise.all(batches.map(({ s, batch }) => s.append('hot', batch, 'any')));
      expect(again).to.deep.equal(results);
      const events = await stores[0]!.readStream('hot');
      expect(events.map((e) => e.revision)).to.deep.equal([...Array(24).keys()]);
      expect(events.map((e) => (e.data as { n: number }).n).sort((a, b) => a - b)).to.deep.equal([...Array(24).keys()]);
      await Promise.all(stores.map((s) => s.close()));
    });

    it('ApiKeyUsed whose answer was lost, flushed again after the server forgot its commits, counts once', async function () {
      this.timeout(20_000);
      const server = new FakeEsdbServer();
      const client = new FakeEsdbClient(server);
      const t = await makeLedger({ store: new EsdbEventStore(FAKE_URL, { client }) });
      try {
        const owner = await seedOwner(t.ledger);
        const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
        for (let i = 0; i < 3; i++) t.ledger.verifyAndRecord(token, 'bearer');
        client.loseNextAppendResponse = true;
        await t.ledger.usage.flush();
        expect(t.ledger.usage.pendingCount).to.equal(1);
        server.forgetRecentCommits();
        await t.ledger.usage.flush();
        const used = (await t.ledger.store.readStream(streams.apiKey(key.id))).filter((e) => e.type === 'ApiKeyUsed');
        expect(used.map((e) => (e.data as { count: number }).count)).to.deep.equal([3]);
        expect(t.ledger.usage.pendingCount).to.equal(0);
      } finally {
        await t.dispose();
      }
    });
  });

  describe('2. refusing reused ids does not depend on the process', () => {
    it('an [old, new] batch at the first revision, from another instance, is IDEMPOTENCY_CONFLICT', async () => {
      const { store, other, close } = pair();
      const a = ev('A');
      await store.append('s', [a, ev('B')], 'no_stream');
      const e = await rejectsWith(other.append('s', [a, ev('C')], 'no_stream'), 'IDEMPOTENCY_CONFLICT');
      expect(e.retriable).to.equal(false);
      await close();
    });

    it('a partial repeat with `any`, from another instance after the server forgot, is refused and writes nothing', async () => {
      const { server, store, other, close } = pair();
      const a = ev('A');
      await store.append('s', [a, ev('B')]);
      server.forgetRecentCommits();
      await rejectsWith(other.append('s', [a, ev('C')]), 'IDEMPOTENCY_CONFLICT');
      await rejectsWith(other.append('s', [ev('D'), a]), 'IDEMPOTENCY_CONFLICT');
      expect((await store.readStream('s')).map((x) => x.type)).to.deep.equal(['A', 'B']);
      await close();
    });
  });

  describe('3. only positions the store handed out are read positions', () => {
    it('position - 1 is refused with INVALID_POSITION; firstEventAtOrAfter answers what point-in-time needs', async () => {
      const { store, close } = pair();
      await store.append('s', [ev('A')]);
      const b = await store.append('s', [ev('B')]);
      await rejectsWith(store.readAll({ after: b.position - 1, maxCount: 1 }), 'INVALID_POSITION');
      expect((await store.firstEventAtOrAfter(b.position))?.type).to.equal('B');
      await close();
    });

    it('a subscription from inside a record, or beyond the log, fails with INVALID_POSITION instead of waiting', async () => {
      const { store, close } = pair();
      const a = await store.append('s', [ev('A')]);
      for (const after of [a.position + 1, a.position + 10_000_000]) {
        const errors: unknown[] = [];
        const sub = store.subscribeAll(() => undefined, { after, onError: (e) => errors.push(e) });
        await rejectsWith(sub.caughtUp, 'INVALID_POSITION');
        await sub.close();
        expect(errors.map((e) => (e as LedgerError).code)).to.deep.equal(['INVALID_POSITION']);
      }
      await close();
    });
  });

  describe('4. an append is answered from its own result, never from a lagging follower', () => {
    it('appends succeed with their position while followers lag, with no stream read for an exact append', async () => {
      const { server, client, store, close } = pair();
      await store.append('s', [ev('A')]);
      server.lagFollowers();
      client.streamReads.length = 0;
      const r = await store.append('s', [ev('B'), ev('C')], 0);
      expect(client.streamReads).to.deep.equal([]);
      const any = await store.append('s', [ev('D')], 'any');
      expect(client.streamReads.every((read) => read.requiresLeader)).to.equal(true);
      const events = server.all.filter((e) => e.streamId === 's');
      expect(r).to.deep.equal({ nextRevision: 2, position: Number(events[2]!.position.commit) });
      expect(any).to.deep.equal({ nextRevision: 3, position: Number(events[3]!.position.commit) });
      await close();
    });

    it('an answer without a position (older servers) is completed from the leader', async () => {
      const { server, store, close } = pair();
      await store.append('s', [ev('A')]);
      server.lagFollowers();
      server.appendPositions = false;
      const r = await store.append('s', [ev('B')], 0);
      expect(r.position).to.equal(Number(server.all.filter((e) => e.streamId === 's')[1]!.position.commit));
      await close();
    });
  });

  describe('6. servers older than 22.6 and missing positions are refused', () => {
    for (const version of ['21.10.8', '22.4.0', 'unknown']) {
      it(`a server reporting version ${version} is refused before anything is written`, async () => {
        const { server, store, close } = pair();
        server.version = version;
        const e = await rejectsWith(store.append('s', [ev('A')]), 'STORE_UNAVAILABLE');
        expect(e.retriable).to.equal(false);
        expect(e.message).to.include('22.6');
        await rejectsWith(store.readStream('s'), 'STORE_UNAVAILABLE');
        expect(server.appends).to.deep.equal([]);
        await close();
      });
    }

    for (const mode of ['absent', 'minus-one'] as const) {
      it(`a stream read whose positions are ${mode === 'absent' ? '0 (not sent)' : '2^64-1'} is refused, not read as 0`, async () => {
        const { server, store, close } = pair();
        await store.append('s', [ev('A')], 'no_stream');
        server.streamReadPositions = mode;
        const e = await rejectsWith(store.readStream('s'), 'STORE_UNAVAILABLE');
        expect(e.retriable).to.equal(false);
        await close();
      });
    }
  });

  describe('7. events sharing a commit position (legacy TCP transactions) fail loudly', () => {
    it('readAll, readStream and subscribeAll refuse them instead of dropping all but the first', async () => {
      const { server, store, close } = pair();
      await store.append('before', [ev('A')]);
      server.writeLegacyTransaction('legacy', [
        { type: 'L1', data: {} },
        { type: 'L2', data: {} },
      ]);
      for (const read of [() => store.readAll({ after: -1, maxCount: 100 }), () => store.readStream('legacy')]) {
        const e = await rejectsWith(read(), 'STORE_UNAVAILABLE');
        expect(e.retriable).to.equal(false);
        expect(e.message).to.include('legacy TCP transaction');
      }
      const errors: unknown[] = [];
      const got: string[] = [];
      const sub = store.subscribeAll((e) => void got.push(e.type), { onError: (e) => errors.push(e) });
      await waitUntil(() => errors.length === 1, 5000, 'the subscription to fail');
      await sub.close();
      expect((errors[0] as LedgerError).code).to.equal('STORE_UNAVAILABLE');
      expect(got).to.deep.equal(['A', 'L1']);
      await close();
    });
  });

  describe('8. event ids are lowercase UUIDs, checked before anything is sent', () => {
    it('an upper-case or non-UUID id is a TypeError and reaches no server', async () => {
      const { server, store, close } = pair();
      for (const id of [randomUUID().toUpperCase(), 'e1', '']) {
        try {
          await store.append('s', [{ ...ev('A'), id }]);
          expect.fail(`expected a TypeError for ${JSON.stringify(id)}`);
        } catch (e) {
          expect(e, id).to.be.instanceOf(TypeError);
        }
      }
      expect(server.appends).to.deep.equal([]);
      await close();
    });
  });

  describe('9. a refused append answered with success: false (throwOnAppendFailure=false) is CONCURRENCY', () => {
    it('an exact and a no_stream expectation that do not hold are retriable CONCURRENCY', async () => {
      const { store, close } = pair({}, { throwOnAppendFailure: false });
      await store.append('s', [ev('A')], 'no_stream');
      for (const expected of [5, 'no_stream'] as const) {
        const e = await rejectsWith(store.append('s', [ev('B')], expected), 'CONCURRENCY');
        expect(e.retriable).to.equal(true);
      }
      expect(await store.readStream('s')).to.have.length(1);
      await close();
    });
  });

  describe("10. one connection's failure fails only its own appends", () => {
    it('appends of another instance still pending when a connection drops are answered, and nothing crashes', async () => {
      const { server, client, otherClient, store, other, close } = pair();
      server.hold();
      const mine = store.append('a', [ev('A')], 'no_stream');
      const theirs = [other.append('b', [ev('B')], 'no_stream'), other.append('c', [ev('C')], 'no_stream')];
      const sent = (): boolean => client.pending() === 1 && otherClient.pending() === 2;
      await waitUntil(sent, 5000, 'the appends to reach the server');
      client.dropConnection();
      server.release();
      expect((await rejectsWith(mine, 'STORE_UNAVAILABLE')).retriable).to.equal(true);
      const answered = await Promise.all(theirs);
      expect(answered.map((r) => r.nextRevision)).to.deep.equal([0, 0]);
      await close();
    });
  });
});
