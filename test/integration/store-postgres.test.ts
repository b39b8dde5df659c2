import { expect } from 'chai';
import { PostgresEventStore } from '../../events/store/postgres.js';
import { openStore } from '../../services/open-store.js';
import { rejectsWith } from '../support/async.js';
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

  it('a reader of the log (openStore read-only: the publisher and snapshot processes) never creates or migrates the tables', async () => {
    const db = await freshDatabase('reader');
    const config = { dataDir: '/nonexistent', eventStoreUrl: null, databaseUrl: db.url };
    try {
      const err = await rejectsWith(openStore(config, { readOnly: true }), 'STORE_UNAVAILABLE');
      expect(err.message).to.match(/^cannot open the ledger/);
      const writer = await openStore(config);
      await writer.append('s', [{ id: crypto.randomUUID(), type: 'T', data: {}, metadata: null }]);
      const reader = await openStore(config, { readOnly: true });
      expect(await reader.headPosition()).to.equal(await writer.headPosition());
      await reader.close();
      await writer.close();
    } finally {
      await db.drop();
    }
  });
});
