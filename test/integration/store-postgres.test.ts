import { expect } from 'chai';
import { PostgresEventStore } from '../../events/store/postgres.js';
import { storeContract } from '../support/store-contract.js';
import { freshDatabase } from '../support/postgres.js';

describe('event store contract: PostgreSQL', function () {
  this.timeout(20_000);
  // Two instances on one database, as two processes sharing it would be; the second opens it as the audit writer
  // process does, without migrating.
  storeContract('postgres', async () => {
    const db = await freshDatabase('contract');
    const store = await PostgresEventStore.open(db.url, { pollIntervalMs: 100 });
    const other = await PostgresEventStore.open(db.url, { pollIntervalMs: 100, migrate: false });
    return {
      store,
      other,
      dispose: async () => {
        await store.close();
        await other.close();
        await db.drop();
      },
    };
  });

  it('opened without migrating, a database without the ledger tables is refused with STORE_UNAVAILABLE', async () => {
    const db = await freshDatabase('nomigrate');
    try {
      const err = await PostgresEventStore.open(db.url, { migrate: false }).then(
        async (s) => {
          await s.close();
          return null;
        },
        (e: unknown) => e,
      );
      expect(err).to.have.property('code', 'STORE_UNAVAILABLE');
    } finally {
      await db.drop();
    }
  });
});
