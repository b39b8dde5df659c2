// A long catch-up reads its pages on a worker thread: the pages it hands out must be exactly the ones the store's own
// connection reads, whatever else reads, appends or fails meanwhile.
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import type { ReadAllPage, RecordedEvent } from '../../events/store/types.js';
import { rejectsWith } from '../support/async.js';
import { tempDir } from '../support/tmp.js';

const EVENTS = 3000;
const PAGE = 100;

/** A log of EVENTS events in streams of 3, written by one store and closed, so readers find it only in the file. */
async function writtenLog(file: string): Promise<void> {
  const store = new SqliteEventStore(file);
  let n = 0;
  const ev = () => ({ id: randomUUID(), type: 'T', data: { n: ++n, text: `é ${n} "q"` }, metadata: { at: n } });
  await Promise.all(Array.from({ length: EVENTS / 3 }, (_, i) => store.append(`s-${i}`, [ev(), ev(), ev()])));
  await store.close();
}

/** Plain fields, so events from either path compare deeply (metadata included). */
const plain = (e: RecordedEvent): unknown => JSON.parse(JSON.stringify(e)) as unknown;

/** The events of pages, as plain data. */
const eventsOf = (pages: readonly ReadAllPage[]): unknown[] => pages.flatMap((p) => p.events.map(plain));

/** The same log opened twice, without a read-ahead and with one from 500 events behind; both closed after `fn`. */
async function bothStores(
  file: string,
  fn: (direct: SqliteEventStore, ahead: SqliteEventStore) => Promise<void>,
): Promise<void> {
  const direct = new SqliteEventStore(file, { readAheadFrom: 0 });
  const ahead = new SqliteEventStore(file, { readAheadFrom: 500 });
  try {
    await fn(direct, ahead);
  } finally {
    await direct.close();
    await ahead.close();
  }
}

/**
 * Every page from `after` on, as a catch-up reads them, until the end. After the first, it waits until the thread of
 * a read-ahead holds `held` pages: a reader faster than the thread reads the pages itself, and would test only that.
 */
async function allPages(store: SqliteEventStore, after = -1, held = 0): Promise<ReadAllPage[]> {
  const pages: ReadAllPage[] = [];
  for (;;) {
    const page = await store.readAll({ after, maxCount: PAGE });
    pages.push(page);
    if (page.isEnd) return pages;
    if (pages.length === 1) await store.readAheadHolding(held);
    after = page.lastPosition;
  }
}

describe('integration: SQLite read-ahead of a long catch-up', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(async () => {
    dir = tempDir('read-ahead');
    file = join(dir.path, 'ledger.db');
    await writtenLog(file);
  });
  afterEach(() => dir.cleanup());

  it('hands out the pages the store reads itself, in order, and the end only from its own read', async () => {
    await bothStores(file, async (direct, ahead) => {
      const want = await allPages(direct);
      const got = await allPages(ahead, -1, 2);
      expect(direct.readAheadStats.started).to.equal(0);
      const stats = ahead.readAheadStats;
      expect(stats).to.deep.include({ started: 1, lastFailure: null });
      // The first page starts it; of the others, each is read once: by the thread or, rather than wait, here.
      expect(stats.served + stats.readHere).to.equal(EVENTS / PAGE - 1);
      expect(stats.served).to.be.at.least(2);
      expect(got.map((p) => [p.lastPosition, p.events.length])).to.deep.equal(
        want.map((p) => [p.lastPosition, p.events.length]),
      );
      expect(eventsOf(got)).to.deep.equal(eventsOf(want));
      expect(got.at(-1)!.isEnd).to.equal(true);
      expect(got.slice(0, -1).every((p) => !p.isEnd)).to.equal(true);
    });
  });

  it('shares the pages with a reader faster than its thread: each page is read once, by one of them', async () => {
    await bothStores(file, async (direct, store) => {
      const want = eventsOf(await allPages(direct));
      expect(eventsOf(await allPages(store))).to.deep.equal(want);
      const stats = store.readAheadStats;
      expect(stats.served + stats.readHere).to.equal(EVENTS / PAGE - 1);
    });
  });

  it('answers two readers asking for the same page at once, each with the whole page', async () => {
    // Two subscriptions of one process catching up from the same position: only one may wait for the thread's page.
    await bothStores(file, async (direct, store) => {
      const want = eventsOf(await allPages(direct));
      const got: unknown[] = [];
      for (let after = -1; ;) {
        const [p, q] = await Promise.all([
          store.readAll({ after, maxCount: PAGE }),
          store.readAll({ after, maxCount: PAGE }),
        ]);
        expect(q.events.map(plain)).to.deep.equal(p.events.map(plain));
        got.push(...p.events.map(plain));
        if (p.isEnd) break;
        if (after === -1) await store.readAheadHolding(1);
        after = p.lastPosition;
      }
      expect(got).to.deep.equal(want);
      expect(store.readAheadStats.started).to.equal(1);
    });
  });

  it('gives up, and the store reads on itself, when the positions are not dense', async () => {
    const raw = new Database(file);
    raw.prepare('DELETE FROM events WHERE position = ?').run(450); // the read-ahead's page 3 is 401…500
    raw.close();
    await bothStores(file, async (direct, store) => {
      const want = await allPages(direct);
      const got = await allPages(store, -1, 4);
      expect(eventsOf(got)).to.deep.equal(eventsOf(want));
      expect(got.map((p) => p.lastPosition)).to.deep.equal(want.map((p) => p.lastPosition));
      expect(store.readAheadStats.lastFailure).to.match(/page 3 after position 400/);
    });
  });

  it('starts only this far behind the head', async () => {
    // After the first page, the head is EVENTS - PAGE events ahead.
    const below = new SqliteEventStore(file, { readAheadFrom: EVENTS - PAGE + 1 });
    const at = new SqliteEventStore(file, { readAheadFrom: EVENTS - PAGE });
    try {
      await allPages(below);
      await allPages(at);
      expect(below.readAheadStats.started).to.equal(0);
      expect(at.readAheadStats.started).to.equal(1);
    } finally {
      await below.close();
      await at.close();
    }
  });

  it('serves only the reader it reads for: another cursor reads on the store connection, and both see the log', async () => {
    await bothStores(file, async (direct, store) => {
      const want = eventsOf(await allPages(direct));
      const a: unknown[] = [];
      const b: unknown[] = [];
      let afterA = -1;
      let afterB = 1000;
      let doneA = false;
      let doneB = false;
      while (!doneA || !doneB) {
        if (!doneA) {
          const p = await store.readAll({ after: afterA, maxCount: PAGE });
          if (afterA === -1) await store.readAheadHolding(1);
          a.push(...p.events.map(plain));
          afterA = p.lastPosition;
          doneA = p.isEnd;
        }
        if (!doneB) {
          const p = await store.readAll({ after: afterB, maxCount: PAGE });
          b.push(...p.events.map(plain));
          afterB = p.lastPosition;
          doneB = p.isEnd;
        }
      }
      expect(a).to.deep.equal(want);
      expect(b).to.deep.equal(want.slice(1000));
      expect(store.readAheadStats.served).to.be.greaterThan(0);
    });
  });

  it('reads on past what it was started for while appends go on', async () => {
    const store = new SqliteEventStore(file, { readAheadFrom: 500 });
    try {
      const seen: number[] = [];
      let appended = 0;
      let after = -1;
      for (;;) {
        const page = await store.readAll({ after, maxCount: PAGE });
        seen.push(...page.events.map((e) => e.position));
        after = page.lastPosition;
        if (appended < 20) {
          await store.append(`late-${appended++}`, [{ id: randomUUID(), type: 'T', data: {}, metadata: {} }]);
          continue;
        }
        if (page.isEnd) break;
      }
      expect(store.readAheadStats.started).to.be.greaterThan(0);
      expect(seen).to.deep.equal(Array.from({ length: EVENTS + 20 }, (_, i) => i + 1));
    } finally {
      await store.close();
    }
  });

  it('refuses a page whose data is not JSON as the store refuses it, and serves the pages after it', async () => {
    // The read-ahead starts after the first page: its page 1 is 201…300.
    const raw = new Database(file);
    raw.prepare("UPDATE events SET data = '{' WHERE position = ?").run(250);
    raw.close();
    await bothStores(file, async (direct, store) => {
      const want = (await rejectsWith(direct.readAll({ after: 200, maxCount: PAGE }), 'STORE_UNAVAILABLE')).message;
      await store.readAll({ after: -1, maxCount: PAGE });
      await store.readAheadHolding(2); // pages 0 and 1 come from the thread
      await store.readAll({ after: 100, maxCount: PAGE });
      const got = await rejectsWith(store.readAll({ after: 200, maxCount: PAGE }), 'STORE_UNAVAILABLE');
      expect(got.message).to.equal(want);
      expect(store.readAheadStats).to.deep.include({ readHere: 0, lastFailure: null });
      // The same page read again (a catch-up retries) is read on the store's connection: same refusal.
      await rejectsWith(store.readAll({ after: 200, maxCount: PAGE }), 'STORE_UNAVAILABLE');
      const next = await store.readAll({ after: 300, maxCount: PAGE });
      expect(next.events[0]!.position).to.equal(301);
    });
  });

  it('closes with a read-ahead under way, and reads nothing after', async () => {
    const store = new SqliteEventStore(file, { readAheadFrom: 500 });
    const page = await store.readAll({ after: -1, maxCount: PAGE });
    expect(store.readAheadStats.started).to.equal(1);
    await store.close();
    await rejectsWith(store.readAll({ after: page.lastPosition, maxCount: PAGE }), 'STORE_UNAVAILABLE');
  });

  it('refuses a threshold that is not a whole number of events', () => {
    for (const readAheadFrom of [-1, 1.5, Number.NaN])
      expect(() => new SqliteEventStore(file, { readAheadFrom })).to.throw(TypeError, /readAheadFrom/);
  });
});
