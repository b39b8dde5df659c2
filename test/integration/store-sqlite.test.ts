import { join } from 'node:path';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { storeContract } from '../support/store-contract.js';
import { tempDir } from '../support/tmp.js';

describe('event store contract: SQLite', () => {
  storeContract(async () => {
    const dir = tempDir('store');
    const store = new SqliteEventStore(join(dir.path, 'ledger.db'));
    return {
      store,
      dispose: async () => {
        await store.close();
        dir.cleanup();
      },
    };
  });
});
