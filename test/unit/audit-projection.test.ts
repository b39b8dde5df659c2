// The audit projection's writer and follower: a retriable write failure resumes from the stored position, any other
// stops it; an instance that does not write waits for the store to reach a position another writer is bringing it to.
import { expect } from 'chai';
import { join } from 'node:path';
import { StoreUnavailableError } from '../../events/errors.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { AuditProjection } from '../../projections/audit/projection.js';
import { SqliteAuditStore } from '../../projections/audit/sqlite-store.js';
import { auditExtensions } from '../../projections/audit/timeline.js';
import { SYSTEM } from '../../services/ledger.js';
import { waitUntil } from '../support/async.js';
import { makeLedger, seedOwner, type TestLedger } from '../support/ledger.js';

/** audit.db whose next writes fail with the given error, once each. */
class FailingStore extends SqliteAuditStore {
  readonly failures: Error[] = [];
  override applyBatch(events: readonly RecordedEvent[]): ReturnType<SqliteAuditStore['applyBatch']> {
    const err = this.failures.shift();
    return err ? Promise.reject(err) : super.applyBatch(events);
  }
}

describe('unit: the audit projection (writer and follower)', function () {
  this.timeout(30_000);
  let t: TestLedger;
  let store: FailingStore;
  const logged: string[] = [];
  let projection: AuditProjection;

  beforeEach(async () => {
    logged.length = 0;
    t = await makeLedger();
    store = new FailingStore(SqliteAuditStore.open(join(t.dir, 'audit.db'), auditExtensions).db);
    projection = new AuditProjection(store, t.ledger.store, (msg) => logged.push(msg));
    await projection.open();
  });
  afterEach(async () => {
    await projection.close();
    await store.close();
    await t.dispose();
  });

  it('resumes from the stored position after a retriable write failure, with no gap', async () => {
    await projection.start();
    const { userId } = await seedOwner(t.ledger);
    store.failures.push(new StoreUnavailableError('connection dropped', null, true));
    for (let i = 0; i < 5; i++) await t.ledger.keys.create({ userId, name: `k${i}` }, SYSTEM);
    await projection.caughtUp(t.ledger.read.position);
    expect(logged).to.deep.equal(['audit projection write failed; resuming from the stored position']);
    expect(projection.failed).to.equal(null);
    const rows = await store.witnessRows(-1, 1e9, 1000);
    expect(rows.map((r) => r.position)).to.deep.equal(rows.map((_, i) => i + 1));
    expect(rows.at(-1)!.position).to.equal(t.ledger.read.position);
  });

  it('stops for good after a write failure that is not retriable, keeping its checkpoint', async () => {
    await projection.start();
    const before = (await store.state()).position;
    store.failures.push(new StoreUnavailableError('disk full', null, false));
    await seedOwner(t.ledger);
    await waitUntil(() => projection.failed !== null, 5000, 'the projection to stop');
    expect(logged).to.deep.equal(['audit projection write failed']);
    expect((await store.state()).position).to.equal(before);
    expect(projection.writing).to.equal(false);
  });

  it('does not write while another instance does, and lets a query wait until the store holds its position', async () => {
    const writer = new AuditProjection(store, t.ledger.store, (msg) => logged.push(msg));
    await writer.open();
    try {
      expect(projection.writing).to.equal(false);
      await seedOwner(t.ledger);
      const target = t.ledger.read.position;
      let reached = false;
      const waiting = projection.caughtUp(target).then(() => (reached = true));
      await new Promise((r) => setImmediate(r));
      expect((await store.state()).position, 'nobody writes yet').to.be.lessThan(target);
      expect(reached).to.equal(false);
      await writer.start();
      await waiting;
      expect(projection.position).to.be.greaterThanOrEqual(target);
      expect(projection.writing).to.equal(false);
    } finally {
      await writer.close();
    }
  });
});
