// LEDGER_EVENTSTORE_URL: kurrentdb:// (KurrentDB's scheme, which the 6.x client refuses at start-up) is translated, in
// the one place that reads it, into the esdb:// the client takes; anything else is refused with the variable's name.
import { EventStoreDBClient } from '@eventstore/db-client';
import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { ConfigError, loadConfig } from '../../services/config.js';
import { EsdbEventStore } from '../../events/store/esdb.js';

const env = (url: string) => ({
  LEDGER_DATA_DIR: tmpdir(),
  LEDGER_EVENTSTORE_URL: url,
  LEDGER_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
});

describe('configuration: the EventStoreDB connection string', () => {
  for (const [given, used] of [
    ['kurrentdb://ledger:secret@db:2113?tls=false', 'esdb://ledger:secret@db:2113?tls=false'],
    ['kurrentdb+discover://db1:2113,db2:2113', 'esdb+discover://db1:2113,db2:2113'],
    ['  esdb://db:2113?tls=false ', 'esdb://db:2113?tls=false'],
    ['esdb+discover://db:2113', 'esdb+discover://db:2113'],
  ] as const) {
    it(`${given.trim()} is used as ${used}`, async () => {
      const { eventStoreUrl } = loadConfig(env(given));
      expect(eventStoreUrl).to.equal(used);
      // The client accepts what the configuration hands it (and refused kurrentdb:// itself).
      await new EsdbEventStore(eventStoreUrl!).close();
    });
  }

  it('the 6.x client itself refuses kurrentdb://, which is why it is translated', () => {
    expect(() => EventStoreDBClient.connectionString('kurrentdb://db:2113?tls=false')).to.throw();
  });

  for (const bad of ['http://db:2113', 'kurrent://db:2113', 'ESDB://db:2113', 'db:2113']) {
    it(`refuses ${bad}, naming the variable`, () => {
      expect(() => loadConfig(env(bad)))
        .to.throw(ConfigError)
        .with.property('message')
        .that.matches(/^LEDGER_EVENTSTORE_URL must start with esdb:\/\/ or kurrentdb:\/\//);
    });
  }
});
