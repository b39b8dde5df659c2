// Child process for the publisher process's lifetime test: runs a PublisherProcess over a ledger file, and waits.
//
//   node publisher-parent.js <data folder> <brokers>
//
// Prints "ready <pid>" with the publisher process's pid once it is started; the test then kills this process with -9.
import { PublisherProcess } from '../../../services/workers/publisher-process.js';

const [dataDir, brokers] = process.argv.slice(2);
if (!dataDir || !brokers) {
  process.stderr.write('usage: publisher-parent <data folder> <brokers>\n');
  process.exit(2);
}
const publisher = new PublisherProcess({
  child: {
    config: {
      dataDir,
      databaseUrl: null,
      eventStoreUrl: null,
      kafkaBrokers: brokers.split(','),
      kafkaClientId: 'publisher-parent',
      kafkaEventsTopic: 'ledger.events',
      kafkaRevocationsTopic: 'ledger.revocations',
    },
    settings: { kafkaPartitions: null, maxBatchMessages: 500, kafkaHeartbeatMs: 5000, source: '/token-ledger' },
  },
  log: () => undefined,
});
publisher.start();
const started = setInterval(() => {
  const pid = publisher.pid;
  if (pid !== null) {
    clearInterval(started);
    process.stdout.write(`ready ${pid}\n`);
  }
}, 10);
setInterval(() => undefined, 60_000);
