import { PostgresEventStore } from '../../events/store/postgres.js';
import { storeContract } from '../support/store-contract.js';
import { freshDatabase } from '../support/postgres.js';

describe('event store contract: PostgreSQL', function () {
  this.timeout(20_000);
  storeContract(async () => {
    const db = await freshDatabase('contract');
    const store = await PostgresEventStore.open(db.url, { pollIntervalMs: 100 });
    return {
      store,
      dispose: async () => {
        await store.close();
        await db.drop();
      },
    };
  });
});
