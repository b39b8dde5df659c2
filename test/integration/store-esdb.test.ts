import { StreamNotFoundError, UnavailableError, WrongExpectedVersionError } from '@eventstore/db-client';
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { EsdbEventStore, createEsdbStore } from '../../events/store/esdb.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { waitUntil } from '../support/async.js';
import { storeContract } from '../support/store-contract.js';

// e.g. LEDGER_TEST_ESDB_URL='esdb://127.0.0.1:2113?tls=false' (see docker-compose.yml: `docker compose up -d eventstore`)
const url = process.env.LEDGER_TEST_ESDB_URL;

describe('event store contract: EventStoreDB', function () {
  if (!url) {
    // A pending test (no function) is reported as skipped, with this title as the reason.
    it('skipped: LEDGER_TEST_ESDB_URL is not set; no EventStoreDB server can run on the CI machine (no Docker engine)');
    return;
  }
  this.timeout(30000);
  storeContract(async () => {
    const store = createEsdbStore(url);
    return { store, dispose: () => store.close() };
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The same contract against an in-memory stand-in for the client, so the adapter's own logic (paging over $all
// with an inclusive start, skipping system records, idempotent retries, catch-up + live subscription, error
// mapping) is exercised on every run. It mimics the server semantics the adapter relies on: reads of $all are
// inclusive of `fromPosition` forwards and exclusive backwards, subscriptions are exclusive, commit === prepare,
// system events ($-types) are interleaved, ids dedupe per stream, and the append response's position is the
// batch's first event (the adapter must not trust it for the last one).

interface FakeRecord {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  data: unknown;
  metadata: unknown;
  isJson: true;
  created: Date;
  position: { commit: bigint; prepare: bigint };
}

interface FakeEventData {
  id: string;
  type: string;
  data: unknown;
  metadata?: unknown;
}

const parseBytes = (v: Uint8Array): unknown =>
  v.length === 0 ? undefined : (JSON.parse(Buffer.from(v).toString('utf8')) as unknown);
// As the client's append does: falsy metadata is dropped, a Uint8Array goes over as bytes, anything else as JSON.
const wireMetadata = (v: unknown): unknown =>
  !v
    ? undefined
    : v.constructor === Uint8Array
      ? parseBytes(v as Uint8Array)
      : (JSON.parse(JSON.stringify(v)) as unknown);

class FakeEsdbClient {
  readonly log: FakeRecord[] = [];
  private readonly streams = new Map<string, FakeRecord[]>();
  private nextPos = 4096n;
  private readonly listeners = new Set<() => void>();
  /** When > 0, the next subscription fails with UnavailableError after delivering this many events. */
  failSubscriptionAfter = 0;
  /** Report the stream's current revision (not the batch's last) for a deduplicated retry. */
  dedupReportsCurrent = false;
  /** maxCount of every forward stream read, to check reads are paged. */
  readonly streamReadSizes: number[] = [];
  subscriptions = 0;
  /** Every subscription fails with UnavailableError as soon as it starts. */
  failEverySubscription = false;

  constructor() {
    for (let i = 0; i < 5; i++) this.write('$settings', '$settings', {}, undefined);
  }

  private write(
    streamId: string,
    type: string,
    data: unknown,
    metadata: unknown,
    id: string = randomUUID(),
  ): FakeRecord {
    const s = this.streams.get(streamId) ?? [];
    this.streams.set(streamId, s);
    const pos = this.nextPos;
    this.nextPos += 100n + BigInt(Math.floor(Math.random() * 50));
    const rec: FakeRecord = {
      streamId,
      id,
      revision: BigInt(s.length),
      type,
      data: JSON.parse(JSON.stringify(data)) as unknown,
      metadata,
      isJson: true,
      created: new Date(),
      position: { commit: pos, prepare: pos },
    };
    s.push(rec);
    this.log.push(rec);
    return rec;
  }

  async appendToStream(streamId: string, events: FakeEventData[], opts: { expectedRevision: unknown }) {
    await new Promise((r) => setImmediate(r));
    const s = this.streams.get(streamId) ?? [];
    const idx = s.findIndex((r) => r.id === events[0]!.id);
    if (idx >= 0 && events.every((e, i) => s[idx + i]?.id === e.id)) {
      const first = s[idx]!;
      const rev = this.dedupReportsCurrent ? s.length - 1 : idx + events.length - 1;
      return { success: true, nextExpectedRevision: BigInt(rev), position: first.position };
    }
    const cur = s.length - 1;
    const exp = opts.expectedRevision;
    const ok =
      exp === 'any' ||
      (exp === 'no_stream' && cur === -1) ||
      (exp === 'stream_exists' && cur >= 0) ||
      (typeof exp === 'bigint' && exp === BigInt(cur));
    if (!ok) {
      throw new WrongExpectedVersionError(undefined, {
        streamName: streamId,
        expected: exp as bigint,
        current: cur === -1 ? 'no_stream' : BigInt(cur),
      });
    }
    let first: FakeRecord | undefined;
    for (const e of events) {
      const rec = this.write(streamId, e.type, e.data, wireMetadata(e.metadata), e.id);
      first ??= rec;
      if (Math.random() < 0.3) this.write('$stats-127.0.0.1:2113', '$statsCollected', {}, undefined);
    }
    for (const l of [...this.listeners]) l();
    return { success: true, nextExpectedRevision: BigInt(cur + events.length), position: first!.position };
  }

  readStream(streamId: string, opts: { fromRevision: bigint | 'end'; maxCount: number; direction?: string }) {
    const s = this.streams.get(streamId);
    if (opts.direction !== 'backwards') this.streamReadSizes.push(opts.maxCount);
    return (async function* () {
      await Promise.resolve();
      if (!s) throw new StreamNotFoundError(undefined, streamId);
      let recs: FakeRecord[];
      if (opts.direction === 'backwards') {
        const from = opts.fromRevision === 'end' ? s.length - 1 : Number(opts.fromRevision);
        recs = s.slice(0, from + 1).reverse();
      } else {
        recs = s.slice(Number(opts.fromRevision));
      }
      for (const rec of recs.slice(0, opts.maxCount)) yield { event: rec, commitPosition: rec.position.commit };
    })();
  }

  readAll(opts: { fromPosition: 'start' | 'end' | { commit: bigint }; maxCount: number; direction: string }) {
    const log = this.log;
    return (async function* () {
      await Promise.resolve();
      let recs: FakeRecord[];
      if (opts.direction === 'forwards') {
        const from = opts.fromPosition;
        recs = from === 'start' ? log : log.filter((r) => typeof from === 'object' && r.position.commit >= from.commit);
      } else {
        const from = opts.fromPosition;
        recs = (from === 'end' ? log : log.filter((r) => typeof from === 'object' && r.position.commit < from.commit))
          .slice()
          .reverse();
      }
      for (const rec of recs.slice(0, opts.maxCount)) yield { event: rec, commitPosition: rec.position.commit };
    })();
  }

  subscribeToAll(opts: { fromPosition: 'start' | { commit: bigint }; filter?: { regex?: string } }) {
    const regex = new RegExp(opts.filter?.regex ?? '.*');
    let after = opts.fromPosition === 'start' ? -1n : opts.fromPosition.commit;
    let waiting: (() => void) | undefined;
    this.subscriptions++;
    let failAfter = this.failSubscriptionAfter;
    this.failSubscriptionAfter = 0;
    const pump = (): void => {
      for (;;) {
        const next = this.log.find((r) => r.position.commit > after);
        if (!next) {
          if (!waiting) {
            waiting = () => {
              this.listeners.delete(waiting!);
              waiting = undefined;
              pump();
            };
            this.listeners.add(waiting);
          }
          return;
        }
        after = next.position.commit;
        if (!regex.test(next.type)) continue;
        if (failAfter > 0 && --failAfter === 0) {
          stream.push({ event: next, commitPosition: next.position.commit });
          setImmediate(() => stream.destroy(new UnavailableError(undefined, 'connection reset')));
          return;
        }
        if (!stream.push({ event: next, commitPosition: next.position.commit })) return;
      }
    };
    const stream = new Readable({ objectMode: true, highWaterMark: 2, read: pump });
    if (this.failEverySubscription)
      setImmediate(() => stream.destroy(new UnavailableError(undefined, 'connection refused')));
    return Object.assign(stream, {
      unsubscribe: async () => {
        if (waiting) this.listeners.delete(waiting);
        stream.destroy();
      },
    });
  }

  async dispose(): Promise<void> {}
}

describe('event store contract: EventStoreDB adapter over an in-memory fake client', () => {
  storeContract(async () => {
    const client = new FakeEsdbClient();
    const store = new EsdbEventStore('esdb://fake:2113?tls=false', { client, scanChunk: 4, streamPageSize: 7 });
    return { store, dispose: () => store.close() };
  });

  it('reads a stream in pages of bounded size', async () => {
    const client = new FakeEsdbClient();
    const store = new EsdbEventStore('esdb://fake:2113?tls=false', { client, streamPageSize: 50 });
    for (let i = 0; i < 4; i++)
      await store.append(
        's',
        Array.from({ length: 30 }, (_, j) => ({ id: randomUUID(), type: 'P', data: { n: i * 30 + j }, metadata: {} })),
      );
    client.streamReadSizes.length = 0;
    const all = await store.readStream('s');
    expect(all.map((e) => (e.data as { n: number }).n)).to.deep.equal([...Array(120).keys()]);
    expect(client.streamReadSizes).to.deep.equal([50, 50, 50]);
    client.streamReadSizes.length = 0;
    expect((await store.readStream('s', { fromRevision: 10, maxCount: 60 })).map((e) => e.revision)).to.deep.equal(
      Array.from({ length: 60 }, (_, j) => 10 + j),
    );
    expect(client.streamReadSizes).to.deep.equal([50, 10]);
    expect(await store.readStream('none')).to.deep.equal([]);
    await store.close();
  });

  it('never returns system events and reports the newest user event as head', async () => {
    const client = new FakeEsdbClient();
    const store = new EsdbEventStore('esdb://fake:2113?tls=false', { client });
    expect(await store.headPosition()).to.equal(-1);
    expect(await store.readAll({ after: -1, maxCount: 10 })).to.deep.include({ events: [], isEnd: true });
    const r = await store.append('s', [{ id: randomUUID(), type: 'A', data: 'x', metadata: null }]);
    client.log.push({
      ...client.log[client.log.length - 1]!,
      streamId: '$$s',
      type: '$metadata',
      position: { commit: 10n ** 9n, prepare: 10n ** 9n },
    });
    expect(await store.headPosition()).to.equal(r.position);
    const page = await store.readAll({ after: -1, maxCount: 10 });
    expect(page.events.map((e: RecordedEvent) => [e.type, e.data, e.metadata])).to.deep.equal([['A', 'x', null]]);
    expect(page.isEnd).to.equal(true);
    await store.close();
  });

  it('resubscribes after a retriable failure without redelivering or skipping events', async () => {
    const client = new FakeEsdbClient();
    const store = new EsdbEventStore('esdb://fake:2113?tls=false', { client });
    const ev = (type: string) => ({ id: randomUUID(), type, data: {}, metadata: {} });
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
    const client = new FakeEsdbClient();
    client.failEverySubscription = true;
    const store = new EsdbEventStore('esdb://fake:2113?tls=false', { client, maxResubscribeAttempts: 100 });
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
    const client = new FakeEsdbClient();
    const store = new EsdbEventStore('esdb://fake:2113?tls=false', { client });
    const ev = (type: string) => ({ id: randomUUID(), type, data: {}, metadata: {} });
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

  it('recognises a deduplicated retry even when the server reports the current stream revision', async () => {
    const client = new FakeEsdbClient();
    client.dedupReportsCurrent = true;
    const store = new EsdbEventStore('esdb://fake:2113?tls=false', { client });
    const ev = (type: string) => ({ id: randomUUID(), type, data: {}, metadata: {} });
    const batch = [ev('A'), ev('B')];
    const first = await store.append('s', batch, 'no_stream');
    await store.append('s', [ev('C')]);
    expect(await store.append('s', batch, 'no_stream')).to.deep.equal(first);
    expect(await store.readStream('s')).to.have.length(3);
    // Same ids but different content is not a retry.
    const tampered = [batch[0]!, { ...batch[1]!, type: 'X' }];
    try {
      await store.append('s', tampered, 'no_stream');
      throw new Error('expected a rejection');
    } catch (e) {
      expect((e as { code?: string }).code).to.equal('IDEMPOTENCY_CONFLICT');
    }
    await store.close();
  });
});
