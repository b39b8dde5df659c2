// Leases on PostgreSQL: one holder at a time, the holder's death hands the lease on, and listings say who holds what.
import { expect } from 'chai';
import { rejectsAborted } from '../support/async.js';
import { PostgresLeases } from '../../events/store/postgres-leases.js';
import { freshDatabase, terminateBackends, type TestDatabase } from '../support/postgres.js';

describe('PostgreSQL leases', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  const open: PostgresLeases[] = [];
  const leases = (id: string): PostgresLeases => {
    const l = new PostgresLeases(db.url, id, { retryMs: 50 });
    open.push(l);
    return l;
  };
  beforeEach(async () => (db = await freshDatabase('leases')));
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    await db.drop();
  });

  it('grants a lease to one instance at a time and hands it on when released', async () => {
    const a = leases('a');
    const b = leases('b');
    const ac = new AbortController();
    const la = await a.acquire('publisher', ac.signal);
    let bGot = false;
    const pb = b.acquire('publisher', ac.signal).then((l) => ((bGot = true), l));
    // b is trying while a holds it: the lock is a's, and b has not got it.
    expect((await b.list()).find((x) => x.name === 'publisher')!.holder).to.equal('a');
    expect(bGot).to.equal(false);
    await la.release();
    const lb = await pb;
    expect((await b.list()).find((x) => x.name === 'publisher')!.holder).to.equal('b');
    await lb.release();
  });

  it('loses the lease when its connection dies, and another instance takes it over', async () => {
    const a = leases('a');
    const b = leases('b');
    const la = await a.acquire('checkpointer', new AbortController().signal);
    const pb = b.acquire('checkpointer', new AbortController().signal);
    // Only a's lease connection holds an advisory lock: ending every backend is what kill -9 does to a's.
    await terminateBackends(db.name);
    await la.lost;
    const lb = await pb;
    expect(lb.name).to.equal('checkpointer');
  });

  it('stops waiting when aborted', async () => {
    const a = leases('a');
    const b = leases('b');
    await a.acquire('x', new AbortController().signal);
    const ac = new AbortController();
    const p = b.acquire('x', ac.signal);
    ac.abort();
    await rejectsAborted(p);
  });
});
