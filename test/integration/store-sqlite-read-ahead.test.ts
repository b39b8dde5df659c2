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

/** Every page from `after` on, as a catch-up reads them, until the end. */
async function allPages(store: SqliteEventStore, after = -1): Promise<ReadAllPage[]> {
  const pages: ReadAllPage[] = [];
  for (;;) {
    const page = await store.readAll({ after, maxCount: PAGE });
    pages.push(page);
    if (page.isEnd) return pages;
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
    const direct = new SqliteEventStore(file, { readAheadFrom: 0 });
    const ahead = new SqliteEventStore(file, { readAheadFrom: 500 });
    try {
      const want = await allPages(direct);
      const got = await allPages(ahead);
      expect(direct.readAheadStats.started).to.equal(0);
      expect(ahead.readAheadStats).to.deep.include({ started: 1, lastFailure: null });
      // The first page is read here; the rest but the end come from the thread.
      expect(ahead.readAheadStats.served).to.be.greaterThan(EVENTS / PAGE - 5);
      expect(got.map((p) => [p.lastPosition, p.events.length])).to.deep.equal(
        want.map((p) => [p.lastPosition, p.events.length]),
      );
      expect(got.flatMap((p) => p.events.map(plain))).to.deep.equal(want.flatMap((p) => p.events.map(plain)));
      expect(got.at(-1)!.isEnd).to.equal(true);
      expect(got.slice(0, -1).every((p) => !p.isEnd)).to.equal(true);
    } finally {
      await direct.close();
      await ahead.close();
    }
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
    const direct = new SqliteEventStore(file, { readAheadFrom: 0 });
    const store = new SqliteEventStore(file, { readAheadFrom: 500 });
    try {
      const want = (await allPages(direct)).flatMap((p) => p.events.map(plain));
      const a: unknown[] = [];
      const b: unknown[] = [];
      let afterA = -1;
      let afterB = 1000;
      let doneA = false;
      let doneB = false;
      while (!doneA || !doneB) {
        if (!doneA) {
          const p = await store.readAll({ after: afterA, maxCount: PAGE });
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
    } finally {
      await direct.close();
      await store.close();
    }
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
    const raw = new Database(file);
    raw.prepare("UPDATE events SET data = '{' WHERE position = ?").run(2050);
    raw.close();
    const direct = new SqliteEventStore(file, { readAheadFrom: 0 });
    const store = new SqliteEventStore(file, { readAheadFrom: 500 });
    try {
      const fail = async (s: SqliteEventStore): Promise<string> => {
        let after = -1;
        for (;;) {
          const p = s.readAll({ after, maxCount: PAGE });
          if (after + PAGE >= 2050) return (await rejectsWith(p, 'STORE_UNAVAILABLE')).message;
          after = (await p).lastPosition;
        }
      };
      const message = await fail(store);
      expect(message).to.equal(await fail(direct));
      expect(store.readAheadStats.served).to.be.greaterThan(10);
      // The same page read again (a catch-up retries) is read on the store's connection: same refusal.
      await rejectsWith(store.readAll({ after: 2000, maxCount: PAGE }), 'STORE_UNAVAILABLE');
      const next = await store.readAll({ after: 2100, maxCount: PAGE });
      expect(next.events[0]!.position).to.equal(2101);
    } finally {
      await direct.close();
      await store.close();
    }
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
