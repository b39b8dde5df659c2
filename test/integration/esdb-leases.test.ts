// Leases on EventStoreDB over the faithful fake server, with one connection per instance as separate processes would
// have: one holder at a time, takeover after a holder dies (no release) only once its grant has lapsed, fencing of a
// stalled holder, prompt handover on release, listings, and lease records kept out of the ledger's log.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { EsdbEventStore } from '../../events/store/esdb.js';
import { EsdbLeases, leaseStream, type EsdbLeaseOptions } from '../../events/store/esdb/leases.js';
import type { Lease } from '../../events/store/leases.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { rejectsAborted, waitUntil } from '../support/async.js';
import { FakeEsdbClient } from '../support/fake-esdb/client.js';
import { FakeEsdbServer, type FakeRecord } from '../support/fake-esdb/server.js';
import { openLeases } from '../../services/workers/open-leases.js';

const URL_ = 'esdb://fake:2113?tls=false';
/** Short, so that lapses happen within a test; the ratios are the defaults' (renew < ttl / 2, poll ≈ ttl / 5). */
const FAST: EsdbLeaseOptions = { ttlMs: 1000, renewMs: 200, pollMs: 100, skewMs: 200 };
const never = (): AbortSignal => new AbortController().signal;

describe('EventStoreDB leases over the fake server', function () {
  this.timeout(20_000);
  let server: FakeEsdbServer;
  const open: EsdbLeases[] = [];
  const instance = (id: string, opts: EsdbLeaseOptions = FAST): { leases: EsdbLeases; client: FakeEsdbClient } => {
    const client = new FakeEsdbClient(server);
    const leases = new EsdbLeases(URL_, id, { ...opts, client });
    open.push(leases);
    return { leases, client };
  };
  /** The lease stream's records as the server holds them (truncated ones included). */
  const records = (name: string): FakeRecord[] => server.all.filter((r) => r.streamId === leaseStream(name));
  const lastTaken = (name: string, holder: string) =>
    records(name)
      .filter((r) => r.type === 'LeaseTaken' && (r.data as { holder: string }).holder === holder)
      .map((r) => r.data as { until: number })
      .pop()!;

  beforeEach(() => {
    server = new FakeEsdbServer();
    server.systemNoise = 0;
  });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
  });

  it('grants a lease to exactly one of three instances at once; list() names the holder and since when', async () => {
    const insts = ['a', 'b', 'c'].map((id) => instance(id).leases);
    const got: Array<{ id: string; lease: Lease }> = [];
    const ac = new AbortController();
    const waits = insts.map((l) =>
      l.acquire('publisher', ac.signal).then(
        (lease) => void got.push({ id: l.instanceId, lease }),
        () => undefined,
      ),
    );
    await waitUntil(() => got.length > 0, 5000, 'a holder');
    // Several renewals later there is still exactly one holder.
    const revision = (): number => records('publisher').length;
    const before = revision();
    await waitUntil(() => revision() >= before + 3, 5000, 'three renewals');
    expect(got).to.have.length(1);
    const holder = got[0]!.id;
    for (const l of insts) {
      const [info] = await l.list();
      expect(info).to.deep.include({ name: 'publisher', holder });
      expect(Date.parse(info!.since!)).to.be.closeTo(Date.now(), 5000);
    }
    ac.abort();
    await Promise.all(waits);
  });

  it('a holder that dies without releasing is replaced once its grant lapses, within ttl + skew + poll', async () => {
    const a = instance('a').leases;
    const b = instance('b').leases;
    await a.acquire('checkpointer', never());
    let bAt = 0;
    const pb = b.acquire('checkpointer', never()).then((l) => ((bAt = Date.now()), l));
    await waitUntil(() => records('checkpointer').length >= 3, 5000, 'renewals by a');
    await a.close(); // kill -9: renewals stop, nothing is released
    await waitUntil(() => bAt > 0, FAST.ttlMs! + FAST.skewMs! + FAST.pollMs! + 2000, 'b to take over');
    // Never before a's last grant (one in flight at the kill included) lapsed, with the skew margin.
    expect(bAt).to.be.greaterThan(lastTaken('checkpointer', 'a').until + FAST.skewMs!);
    const [info] = await b.list();
    expect(info?.holder).to.equal('b');
    await (await pb).release();
  });

  it('a stalled holder loses the lease at its until, before anyone takes it, and its late renewal is refused', async () => {
    const { leases: a, client: ca } = instance('a');
    const b = instance('b').leases;
    const la = await a.acquire('audit-writer', never());
    let aLost = false;
    void la.lost.then(() => (aLost = true));
    let lostBeforeTaken: boolean | null = null;
    const pb = b.acquire('audit-writer', never()).then((l) => ((lostBeforeTaken = aLost), l));
    ca.stall(); // a's renewals no longer reach the server (a partition, a long pause)
    await waitUntil(() => lostBeforeTaken !== null, 5000, 'b to take over');
    expect(lostBeforeTaken, 'a stopped before b was granted').to.equal(true);
    const holderOf = (r: FakeRecord): string => (r.data as { holder: string }).holder;
    const firstB = records('audit-writer').findIndex((r) => holderOf(r) === 'b');
    // a's last confirmed revision: b took over expecting it, and a's stalled renewal expects it too.
    const stale = records('audit-writer')[firstB - 1]!.revision;
    const sent = server.appends.length;
    ca.unstall(); // a's pending renewal arrives late, with an expected revision that is no longer current
    const late = (): boolean => server.appends.slice(sent).some((x) => x.expected === stale);
    await waitUntil(late, 5000, "a's late renewal");
    await waitUntil(async () => (await b.list())[0]?.holder === 'b', 5000, 'b listed as holder');
    // Nothing a wrote after losing was accepted: every LeaseTaken after b's first is b's.
    expect(new Set(records('audit-writer').slice(firstB).map(holderOf))).to.deep.equal(new Set(['b']));
    await la.release(); // changes nothing
    expect((await b.list())[0]?.holder).to.equal('b');
    await (await pb).release();
  });

  it('a renewal refused because another instance wrote makes `lost` resolve at once', async () => {
    const a = instance('a', { ...FAST, ttlMs: 60_000, renewMs: 50 }).leases;
    const la = await a.acquire('expiry', never());
    const rival = new FakeEsdbClient(server);
    const current = records('expiry').pop()!.revision;
    await rival.append(
      leaseStream('expiry'),
      [{ id: randomUUID(), type: 'LeaseTaken', data: { holder: 'z', until: Date.now() + 60_000, since: '' } }],
      { expectedRevision: current },
    );
    let lost = false;
    void la.lost.then(() => (lost = true));
    await waitUntil(() => lost, 5000, 'a to see its lease lost');
    expect((await a.list())[0]?.holder).to.equal('z');
  });

  it('release hands the lease over at once, long before the ttl', async () => {
    const opts = { ...FAST, ttlMs: 60_000, renewMs: 1000 };
    const a = instance('a', opts).leases;
    const b = instance('b', opts).leases;
    const la = await a.acquire('publisher', never());
    let lb: Lease | null = null;
    void b.acquire('publisher', never()).then((l) => (lb = l));
    await la.release();
    await waitUntil(() => lb !== null, 5000, 'b to take over after the release');
    expect(records('publisher').map((r) => r.type)).to.deep.equal(['LeaseTaken', 'LeaseReleased', 'LeaseTaken']);
  });

  it('stops waiting when aborted', async () => {
    await instance('a').leases.acquire('x', never());
    const ac = new AbortController();
    const p = instance('b').leases.acquire('x', ac.signal);
    ac.abort();
    await rejectsAborted(p);
  });

  it('keeps lease streams small with $maxCount', async () => {
    const { leases: a, client } = instance('a', { ...FAST, keep: 3 });
    await a.acquire('publisher', never());
    await waitUntil(() => records('publisher').length >= 6, 5000, 'renewals');
    expect(server.all.some((r) => r.streamId === `$$${leaseStream('publisher')}` && r.type === '$metadata')).to.equal(
      true,
    );
    const read = client.readStream(leaseStream('publisher'), { fromRevision: 'start', maxCount: 100 });
    const kept: unknown[] = [];
    for await (const r of read) kept.push(r);
    expect(kept).to.have.length(3);
  });

  it('lease records never reach readAll, subscribeAll, headPosition or firstEventAtOrAfter', async () => {
    const store = new EsdbEventStore(URL_, { client: new FakeEsdbClient(server), scanChunk: 3 });
    const ev = (type: string) => ({ id: randomUUID(), type, data: {}, metadata: {} });
    try {
      const first = await store.append('apikey-1', [ev('A')]);
      const seen: RecordedEvent[] = [];
      const sub = store.subscribeAll((e) => void seen.push(e));
      await sub.caughtUp;
      const a = instance('a').leases;
      await a.acquire('publisher', never());
      await waitUntil(() => records('publisher').length >= 4, 5000, 'renewals');
      const leaseAt = Number(records('publisher')[0]!.position.commit);
      // Only lease records follow A: the head is still A, and nothing is at or after the first lease record.
      expect(await store.headPosition()).to.equal(first.position);
      expect(await store.firstEventAtOrAfter(leaseAt)).to.equal(null);
      const last = await store.append('apikey-1', [ev('B')]);
      await waitUntil(() => seen.length === 2, 5000, 'B on the subscription');
      expect(seen.map((e) => e.type)).to.deep.equal(['A', 'B']);
      const page = await store.readAll({ after: -1, maxCount: 100 });
      expect(page.events.map((e) => e.type)).to.deep.equal(['A', 'B']);
      expect(await store.headPosition()).to.equal(last.position);
      expect((await store.firstEventAtOrAfter(leaseAt))?.type).to.equal('B');
      try {
        await store.append(leaseStream('publisher'), [ev('X')]);
        expect.fail('appending to a lease stream should be refused');
      } catch (e) {
        expect(e).to.be.instanceOf(TypeError);
      }
      await sub.close();
    } finally {
      await store.close();
    }
  });

  it('are what a server on LEDGER_EVENTSTORE_URL takes (the client connects lazily: nothing is reached here)', async () => {
    const leases = await openLeases({ databaseUrl: null, eventStoreUrl: URL_, instanceId: 'a' });
    try {
      expect(leases).to.be.instanceOf(EsdbLeases);
      expect(leases.instanceId).to.equal('a');
    } finally {
      await leases.close();
    }
  });
});
