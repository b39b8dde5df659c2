// The audit writer process on PostgreSQL (see follower-process.ts): the same checkpointed projection the server would
// run, on its own connections (LISTEN included), so the flattening, hashing and inserts stay off the request loop.
import { PostgresEventStore } from '../../events/store/postgres.js';
import { FollowerChannel } from './follower-channel.js';
import { PostgresAuditStore, type PostgresFollowerConfig } from './postgres-store.js';
import { AuditProjection } from './projection.js';

/** Connections of each pool: a batch holds one audit connection, an ANALYZE another; the log reads one page at a time. */
const POOL = 2;

const channel = new FollowerChannel<PostgresFollowerConfig>('postgres-follower-worker');
const config = channel.config;

async function run(): Promise<void> {
  // The server migrated both before it started this process, which runs at the lowest priority: no migration locks here.
  const store = await PostgresAuditStore.open(config.auditUrl, { poolSize: POOL, migrate: false });
  const log = await PostgresEventStore.open(config.ledgerUrl, { poolSize: POOL, migrate: false }).catch(
    async (err: unknown) => {
      await store.close();
      throw err;
    },
  );
  // Any failure ends this process: the server's projection resumes a retriable one by starting a new writer.
  let failed!: (err: unknown) => void;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => undefined);
  const projection = new AuditProjection(
    store,
    log,
    (_msg, err) => failed(err),
    (position) => channel.post({ kind: 'position', position }),
  );
  try {
    await Promise.race([projection.start(), failure, channel.whenClosed()]);
    if (!channel.closed) channel.post({ kind: 'caughtUp' });
    await Promise.race([failure, channel.whenClosed()]);
  } finally {
    await projection.close();
    await Promise.all([store.close(), log.close()]);
  }
}

run()
  .catch((err: unknown) => channel.fail(err))
  .finally(() => channel.end());
