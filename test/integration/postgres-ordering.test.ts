// PostgreSQL's global order as a live reader sees it: many appenders in several processes never make a subscriber skip
// or reorder an event, and a subscription resumes without a gap after its connections are terminated.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PostgresEventStore } from '../../events/store/postgres.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { freshDatabase, terminateBackends, type TestDatabase } from '../support/postgres.js';
import { waitUntil } from '../support/async.js';

const APPENDER = fileURLToPath(new URL('../support/children/pg-appender.js', import.meta.url));
const run = promisify(execFile);

async function readWhole(store: PostgresEventStore): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  for (let after = -1; ;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    all.push(...page.events);
    after = page.lastPosition;
    if (page.isEnd) return all;
  }
}

describe('PostgreSQL: global order for live readers', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let store: PostgresEventStore;
  beforeEach(async () => {
    db = await freshDatabase('order');
    store = await PostgresEventStore.open(db.url, { pollIntervalMs: 200 });
  });
  afterEach(async () => {
    await store.close();
    await db.drop();
  });

  it('4 processes × 16 appends in flight: a live subscriber sees exactly the log, in order, with no gap', async () => {
    const seen: RecordedEvent[] = [];
    const sub = store.subscribeAll((e) => void seen.push(e));
    await sub.caughtUp;
    const per = 600;
    const outs = await Promise.all(
      ['a', 'b', 'c', 'd'].map((label) => run(process.execPath, [APPENDER, db.url, label, String(per), '16'])),
    );
    for (const o of outs) expect(o.stdout.trim()).to.equal(`done ${per}`);
    await waitUntil(() => seen.length >= 4 * per, 20_000, 'the subscriber to see every event');
    await sub.close();
    const whole = await readWhole(store);
    expect(whole).to.have.length(4 * per);
    expect(seen.map((e) => e.position)).to.deep.equal(whole.map((e) => e.position));
    expect(seen.map((e) => e.id)).to.deep.equal(whole.map((e) => e.id));
    // Positions are dense and rise by one: nothing was committed out of order around a reader.
    expect(whole.every((e, i) => i === 0 || e.position === whole[i - 1]!.position + 1)).to.equal(true);
  });

  it('resumes without a gap after every backend is terminated (pg_terminate_backend)', async () => {
    const seen: RecordedEvent[] = [];
    const sub = store.subscribeAll((e) => void seen.push(e), {
      onError: (e) => expect.fail(`subscription failed: ${String(e)}`),
    });
    await sub.caughtUp;
    const writer = await PostgresEventStore.open(db.url);
    const write = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        for (;;) {
          try {
            await writer.append(`s-${i % 4}`, [{ id: randomUUID(), type: 'T', data: { i }, metadata: {} }]);
            break;
          } catch {
            // terminated mid-append: retry (a real caller retries retriable store errors)
          }
        }
      }
    };
    await write(50);
    await waitUntil(() => seen.length === 50, 10_000, 'the first 50');
    expect(await terminateBackends(db.name)).to.be.greaterThan(0);
    await write(50);
    await waitUntil(() => seen.length === 100, 20_000, 'all 100 after the reconnect');
    await sub.close();
    await writer.close();
    expect(seen.map((e) => e.position)).to.deep.equal((await readWhole(store)).map((e) => e.position));
  });
});
