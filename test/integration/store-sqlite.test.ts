import { join } from 'node:path';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { storeContract } from '../support/store-contract.js';
import { tempDir } from '../support/tmp.js';

describe('event store contract: SQLite', () => {
  // Two instances on one file, as two processes sharing it would be (they see each other's appends by polling).
  storeContract('sqlite', async () => {
    const dir = tempDir('store');
    const file = join(dir.path, 'ledger.db');
    const store = new SqliteEventStore(file, { pollIntervalMs: 20 });
    const other = new SqliteEventStore(file, { pollIntervalMs: 20 });
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
