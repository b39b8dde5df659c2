import { PostgresEventStore } from '../../events/store/postgres.js';
import { storeContract } from '../support/store-contract.js';
import { freshDatabase } from '../support/postgres.js';

describe('event store contract: PostgreSQL', function () {
  this.timeout(20_000);
  // Two instances on one database, as two processes sharing it would be.
  storeContract('postgres', async () => {
    const db = await freshDatabase('contract');
    const store = await PostgresEventStore.open(db.url, { pollIntervalMs: 100 });
    const other = await PostgresEventStore.open(db.url, { pollIntervalMs: 100 });
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
});
