// The contract against EventStoreDB: on every run over a faithful in-memory server (test/support/fake-esdb), and
// against a real server when LEDGER_TEST_ESDB_URL names one. Both use two store instances, as two processes would.
import { EventStoreDBClient } from '@eventstore/db-client';
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { EsdbEventStore, createEsdbStore } from '../../events/store/esdb.js';
import type { EventStore, RecordedEvent } from '../../events/store/types.js';
import { waitUntil } from '../support/async.js';
import { FakeEsdbClient } from '../support/fake-esdb/client.js';
import { FakeEsdbServer } from '../support/fake-esdb/server.js';
import { InterceptedStore, storeContract } from '../support/store-contract.js';

// e.g. LEDGER_TEST_ESDB_URL='esdb://127.0.0.1:2113?tls=false' (see docker-compose.yml: `docker compose --profile esdb up -d eventstore`)
const url = process.env.LEDGER_TEST_ESDB_URL;
const FAKE_URL = 'esdb://fake:2113?tls=false';

describe('event store contract: EventStoreDB server', function () {
  if (!url) {
    // A pending test (no function) is reported as skipped, with this title as the reason.
    it(
      'skipped: LEDGER_TEST_ESDB_URL is not set (e.g. esdb://127.0.0.1:2113?tls=false); no EventStoreDB server can ' +
        'run on the CI machine (no container engine), so the same cases run over the fake server below',
    );
    return;
  }
  const server = url;
  this.timeout(30_000);
  // Every stream this run writes starts with its own prefix, and is deleted at the end.
  const prefix = `ledger-contract-${randomUUID().slice(0, 8)}-`;
  const written = new Set<string>();
  const recording = (inner: EventStore): InterceptedStore => {
    const s = new InterceptedStore(inner);
    s.onAppend = async (streamId, _events, _expected, next) => {
      const r = await next();
      written.add(streamId);
      return r;
    };
    return s;
  };
  storeContract(
    'esdb',
    async () => {
      const a = createEsdbStore(server);
      const b = createEsdbStore(server);
      return {
        store: recording(a),
        other: recording(b),
        dispose: async () => {
          await a.close();
          await b.close();
        },
      };
    },
    { prefix },
  );
  after(async () => {
    const client = EventStoreDBClient.connectionString(server);
    try {
      for (const s of written) await client.deleteStream(s);
    } finally {
      await client.dispose();
    }
  });
});

describe('event store contract: EventStoreDB adapter over the faithful fake server', () => {
  storeContract('esdb', async () => {
    const server = new FakeEsdbServer();
    // Small pages, different per instance, so paging is exercised on every case.
    const store = new EsdbEventStore(FAKE_URL, { client: new FakeEsdbClient(server), scanChunk: 4, streamPageSize: 7 });
    const other = new EsdbEventStore(FAKE_URL, {
      client: new FakeEsdbClient(server),
      scanChunk: 5,
      streamPageSize: 11,
    });
    return {
      store,
      other,
      forgetRecentCommits: () => server.forgetRecentCommits(),
      dispose: async () => {
        await store.close();
        await other.close();
      },
    };
  });
});

describe('EventStoreDB adapter over the fake server: reading and subscriptions', () => {
  const ev = (type: string, data: unknown = {}) => ({ id: randomUUID(), type, data, metadata: {} });

  it('reads a stream in pages of bounded size', async () => {
    const client = new FakeEsdbClient(new FakeEsdbServer());
    const store = new EsdbEventStore(FAKE_URL, { client, streamPageSize: 50 });
    for (let i = 0; i < 4; i++)
      await store.append(
        's',
        Array.from({ length: 30 }, (_, j) => ev('P', { n: i * 30 + j })),
      );
    const forwardSizes = (): number[] =>
      client.streamReads.filter((r) => r.direction === 'forwards').map((r) => r.maxCount);
    client.streamReads.length = 0;
    const all = await store.readStream('s');
    expect(all.map((e) => (e.data as { n: number }).n)).to.deep.equal([...Array(120).keys()]);
    expect(forwardSizes()).to.deep.equal([50, 50, 50]);
    client.streamReads.length = 0;
    expect((await store.readStream('s', { fromRevision: 10, maxCount: 60 })).map((e) => e.revision)).to.deep.equal(
      Array.from({ length: 60 }, (_, j) => 10 + j),
    );
    expect(forwardSizes()).to.deep.equal([50, 10]);
    expect(await store.readStream('none')).to.deep.equal([]);
    await store.close();
  });

  it('never returns system events and reports the newest user event as head', async () => {
    const server = new FakeEsdbServer();
    const store = new EsdbEventStore(FAKE_URL, { client: new FakeEsdbClient(server) });
    expect(await store.headPosition()).to.equal(-1);
    expect(await store.firstEventAtOrAfter(-1)).to.equal(null);
    expect(await store.readAll({ after: -1, maxCount: 10 })).to.deep.include({ events: [], isEnd: true });
    const r = await store.append('s', [{ id: randomUUID(), type: 'A', data: 'x', metadata: null }]);
    const sys = server.writeSystemEvent('$$s', '$metadata');
    expect(await store.headPosition()).to.equal(r.position);
    const page = await store.readAll({ after: -1, maxCount: 10 });
    expect(page.events.map((e: RecordedEvent) => [e.type, e.data, e.metadata])).to.deep.equal([['A', 'x', null]]);
    expect(page).to.deep.include({ isEnd: true, lastPosition: Number(sys.position.commit) });
    // A page's lastPosition may be a system record's: it is a position handed out, with no user event at or after it.
    expect(await store.firstEventAtOrAfter(page.lastPosition)).to.equal(null);
    expect(await store.readAll({ after: page.lastPosition, maxCount: 10 })).to.deep.include({
      events: [],
      isEnd: true,
    });
    await store.close();
  });

  it('resubscribes after a retriable failure without redelivering or skipping events', async () => {
    const client = new FakeEsdbClient(new FakeEsdbServer());
    const store = new EsdbEventStore(FAKE_URL, { client });
    await store.append('s', [ev('A'), ev('B'), ev('C')]);
    client.failSubscriptionAfter = 2;
    const got: string[] = [];
    const errors: unknown[] = [];
    const sub = store.subscribeAll((e) => void got.push(e.type), { onError: (e) => errors.push(e) });
    await sub.caughtUp;
    await store.append('s', [ev('D')]);
    await waitUntil(() => got.length >= 4, 5000, 'the event appended after the resubscribe');
    await sub.close();
    await store.close();
    expect(got).to.deep.equal(['A', 'B', 'C', 'D']);
    expect(errors).to.deep.equal([]);
    expect(client.subscriptions).to.equal(2);
  });

  it('close() ends a resubscribe backoff at once', async () => {
    const client = new FakeEsdbClient(new FakeEsdbServer());
    client.failEverySubscription = true;
    const store = new EsdbEventStore(FAKE_URL, { client, maxResubscribeAttempts: 100 });
    const errors: unknown[] = [];
    const sub = store.subscribeAll(() => undefined, { onError: (e) => errors.push(e) });
    // Backoffs double from 100 ms: after the fourth failure the wait is 800 ms.
    await waitUntil(() => client.subscriptions === 4, 5000, 'four failed subscriptions');
    await new Promise((r) => setImmediate(r));
    const t0 = Date.now();
    await sub.close();
    expect(Date.now() - t0, 'close() duration').to.be.below(300);
    await store.close();
    expect(errors).to.deep.equal([]);
    expect(client.subscriptions).to.equal(4);
  });

  it('a handler failure ends the subscription with that error, without resubscribing', async () => {
    const client = new FakeEsdbClient(new FakeEsdbServer());
    const store = new EsdbEventStore(FAKE_URL, { client });
    await store.append('s', [ev('A'), ev('B'), ev('C')]);
    const boom = new Error('handler broke');
    const got: string[] = [];
    const errors: unknown[] = [];
    const sub = store.subscribeAll(
      (e) => {
        if (e.type === 'B') throw boom;
        got.push(e.type);
      },
      { onError: (e) => errors.push(e) },
    );
    try {
      await sub.caughtUp;
      throw new Error('expected caughtUp to reject');
    } catch (e) {
      expect(e).to.equal(boom);
    }
    await sub.close();
    await store.close();
    expect(got).to.deep.equal(['A']);
    expect(errors).to.deep.equal([boom]);
    expect(client.subscriptions).to.equal(1);
  });
});
