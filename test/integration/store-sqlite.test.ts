import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { arrayToRecorded, SqliteEventStore } from '../../events/store/sqlite.js';
import { waitUntil } from '../support/async.js';
import { storeContract } from '../support/store-contract.js';
import { tempDir } from '../support/tmp.js';

/** Two instances on one file, as two processes sharing it would be (they see each other's appends by polling). */
function twoInstances(label: string): {
  dir: ReturnType<typeof tempDir>;
  store: SqliteEventStore;
  other: SqliteEventStore;
} {
  const dir = tempDir(label);
  const file = join(dir.path, 'ledger.db');
  return {
    dir,
    store: new SqliteEventStore(file, { pollIntervalMs: 20 }),
    other: new SqliteEventStore(file, { pollIntervalMs: 20 }),
  };
}

describe('event store contract: SQLite', () => {
  storeContract('sqlite', async () => {
    const { dir, store, other } = twoInstances('store');
    return {
      store,
      other,
      dispose: async () => {
        await store.close();
        await other.close();
        dir.cleanup();
      },
    };
  });
});

describe('integration: SQLite appends committed on the writer thread', () => {
  it('reads back, through its own recent commits and the file, exactly what the file holds, with another writer between', async () => {
    const { dir, store, other } = twoInstances('store-writer');
    try {
      const seen: number[] = [];
      const sub = store.subscribeAll((e) => void seen.push(e.position));
      await sub.caughtUp;
      let n = 0;
      const ev = () => ({ id: randomUUID(), type: 'T', data: { n: ++n }, metadata: { at: n } });
      for (let round = 0; round < 20; round++) {
        // Groups of this instance (several appends at once) interleaved with single appends by the other one.
        await Promise.all(Array.from({ length: 1 + (round % 5) }, (_, i) => store.append(`s${i}`, [ev(), ev()])));
        if (round % 3 === 0) await other.append('o', [ev()]);
      }
      const head = await store.headPosition();
      await new Promise<void>((resolve) => {
        // The other instance's events arrive with a poll: wait until the subscriber holds the head.
        const check = (): void => void (seen.length >= head ? resolve() : setImmediate(check));
        check();
      });
      await sub.close();
      const fromFile: unknown[] = [];
      for (let after = -1; ;) {
        const rows = store.readAllRaw(after, 1000);
        if (rows.length === 0) break;
        fromFile.push(...rows.map(arrayToRecorded));
        after = rows[rows.length - 1]![0];
      }
      expect(seen).to.deep.equal(fromFile.map((_, i) => i + 1));
      // Every page readAll answers, from the recent commits or the file, equals the file.
      for (let after = -1; after < head; after++) {
        const page = await store.readAll({ after, maxCount: 7 });
        const from = Math.max(after, 0); // positions start at 1: index i holds position i + 1
        expect(page.events).to.deep.equal(fromFile.slice(from, from + page.events.length));
        expect(page.events.length).to.be.greaterThan(0);
      }
    } finally {
      await store.close();
      await other.close();
      dir.cleanup();
    }
  });

  it('acknowledges every queued append before close, whatever the group sizes', async () => {
    const dir = tempDir('store-close');
    const file = join(dir.path, 'ledger.db');
    const store = new SqliteEventStore(file);
    const ids = Array.from({ length: 100 }, () => randomUUID());
    const appends = ids.map((id, i) => store.append(`s${i % 7}`, [{ id, type: 'T', data: i, metadata: null }]));
    await store.close();
    const results = await Promise.all(appends);
    expect(new Set(results.map((r) => r.position)).size).to.equal(100);
    const again = new SqliteEventStore(file);
    try {
      expect(await again.headPosition()).to.equal(100);
    } finally {
      await again.close();
      dir.cleanup();
    }
  });

  it('commits a backlog (a usage flush) in larger groups: every append answered in queue order, a refused one alone', async () => {
    const dir = tempDir('store-backlog');
    const store = new SqliteEventStore(join(dir.path, 'ledger.db'));
    try {
      await store.append('taken', [{ id: randomUUID(), type: 'T', data: 0, metadata: null }]);
      const n = 2000;
      const appends = Array.from({ length: n }, (_, i) =>
        i === 777
          ? store.append('taken', [{ id: randomUUID(), type: 'T', data: i, metadata: null }], 'no_stream')
          : store.append(`s${i}`, [{ id: randomUUID(), type: 'T', data: i, metadata: null }], 'no_stream'),
      );
      const outcomes = await Promise.allSettled(appends);
      const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
      expect(refused).to.deep.equal([777]);
      expect((outcomes[777] as PromiseRejectedResult).reason).to.have.property('code', 'CONCURRENCY');
      const positions = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.position] : []));
      expect(positions).to.deep.equal(Array.from({ length: n - 1 }, (_, i) => i + 2));
      const page = await store.readAll({ after: 1, maxCount: n });
      expect(page.events.map((e) => e.data)).to.deep.equal(
        Array.from({ length: n }, (_, i) => i).filter((i) => i !== 777),
      );
    } finally {
      await store.close();
      dir.cleanup();
    }
  });

  it('a read-only instance (a reader in another process) refuses appends, and reads what the writer commits as soon as it is told', async () => {
    const dir = tempDir('store-readonly');
    const file = join(dir.path, 'ledger.db');
    const writer = new SqliteEventStore(file);
    // A poll far beyond the test's bounds: only noticeAppend can deliver in time.
    const reader = new SqliteEventStore(file, { readOnly: true, pollIntervalMs: 600_000 });
    try {
      const ev = (n: number) => ({ id: randomUUID(), type: 'T', data: { n }, metadata: null });
      await writer.append('s', [ev(1)]);
      let err: unknown = null;
      await reader.append('s', [ev(2)]).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(TypeError);
      expect(await reader.headPosition()).to.equal(1);
      const seen: number[] = [];
      const sub = reader.subscribeAll((e) => void seen.push(e.position));
      await sub.caughtUp;
      expect(seen).to.deep.equal([1]);
      await writer.append('s', [ev(3)]);
      reader.noticeAppend();
      await waitUntil(() => seen.length === 2, 5000, 'the noticed append');
      expect(seen).to.deep.equal([1, 2]);
      await sub.close();
    } finally {
      await reader.close();
      await writer.close();
      dir.cleanup();
    }
  });
});
