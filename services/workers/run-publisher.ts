#!/usr/bin/env node
// The Kafka publisher as a process of its own (node dist/services/workers/run-publisher.js), for running it
// apart from the API, e.g. next to an EventStoreDB-backed ledger. Same configuration as the server, same checkpoint
// and the same kafka-publisher lease, so it never publishes at the same time as a server (or another of its kind) on a
// shared store. SIGTERM/SIGINT stop it cleanly; after a crash it resumes from its checkpoint.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, pluginSettings } from '../config.js';
import { exitProcess } from '../exit.js';
import { createLogger, pinoLog } from '../logger.js';
import { openStore } from '../open-ledger.js';
import { createPublisher } from '../revocations/create-publisher.js';
import { revocationsModule } from '../revocations/plugin.js';
import { PUBLISHER_LEASE } from '../revocations/publisher-lease.js';
import { openLeases } from './open-leases.js';
import { Singleton } from './singleton.js';

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env, [revocationsModule]);
  const logger = createLogger(config.logLevel).child({ component: 'publisher' });
  if (config.kafkaBrokers === null) throw new Error('LEDGER_KAFKA_BROKERS is not set');
  const store = await openStore(config);
  const pub = await createPublisher(store, config, pluginSettings(config, revocationsModule), pinoLog(logger));
  if (pub === null) throw new Error('publishing is off');
  const leases = await openLeases(config);
  const lease = new Singleton(
    PUBLISHER_LEASE,
    leases,
    { start: () => pub.publisher.start(), stop: () => pub.publisher.stop() },
    (msg, err) => logger.error({ err }, msg),
  );
  lease.start();
  logger.info(
    {
      brokers: config.kafkaBrokers,
      events: config.kafkaEventsTopic,
      revocations: config.kafkaRevocationsTopic,
      instance: config.instanceId,
    },
    'publisher running (publishing while it holds the kafka-publisher lease)',
  );
  const stop = (signal: string): void => {
    logger.info({ signal }, 'publisher stopping');
    lease
      .stop()
      .then(() => pub.close())
      .then(() => leases.close())
      .then(() => store.close())
      .then(
        () => exitProcess(logger, 0),
        (err: unknown) => {
          logger.error({ err }, 'publisher stop failed');
          exitProcess(logger, 1);
        },
      );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

const invoked =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invoked) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
