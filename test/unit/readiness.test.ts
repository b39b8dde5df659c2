import { expect } from 'chai';
import { ReadModelLag } from '../../services/http/routes/ops.js';
import type { Ledger } from '../../services/ledger.js';

/** Just what readiness reads of a ledger. */
function fakeLedger(over: { position: number; head: number; caughtUp: boolean; error: unknown }): Ledger {
  return {
    read: { position: over.position, isCaughtUp: over.caughtUp, subscriptionError: over.error },
    store: { headPosition: () => Promise.resolve(over.head) },
  } as unknown as Ledger;
}

describe('readiness of the read model', () => {
  it('is ready when caught up with the store head', async () => {
    const r = await new ReadModelLag(fakeLedger({ position: 7, head: 7, caughtUp: true, error: null }), 5000).check();
    expect(r.ok).to.equal(true);
  });

  it('is not ready while catching up', async () => {
    const r = await new ReadModelLag(fakeLedger({ position: 3, head: 7, caughtUp: false, error: null }), 5000).check();
    expect(r).to.deep.include({ ok: false });
    expect(r.detail.reason).to.equal('catching up');
  });

  it('fails at once when the read model subscription has failed, even with nothing new written', async () => {
    const r = await new ReadModelLag(
      fakeLedger({ position: 7, head: 7, caughtUp: true, error: new Error('disk gone') }),
      5000,
    ).check();
    expect(r.ok).to.equal(false);
    expect(r.detail.reason).to.equal('read model subscription failed');
  });
});
