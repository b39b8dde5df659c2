// A SQLite log copied into a fresh PostgreSQL database at the same positions (the ledger's own tables), for benchmarks
// that compare the stores on the same history.
import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresEventStore } from '../events/store/postgres.js';
import { freshDatabase, type TestDatabase } from '../test/support/postgres.js';

/** Copies the first `maxEvents` events (all by default). */
export async function copyToPostgres(ledgerFile: string, label: string, maxEvents = Infinity): Promise<TestDatabase> {
  const db = await freshDatabase(label);
  const target = await PostgresEventStore.open(db.url);
  await target.close();
  const source = new Database(ledgerFile, { readonly: true });
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const page = source.prepare(
      'SELECT position, event_id, stream_id, revision, type, data, metadata FROM events WHERE position > ? ORDER BY position LIMIT ?',
    );
    for (let after = -1, copied = 0; copied < maxEvents;) {
      const rows = page.raw(true).all(after, Math.min(10_000, maxEvents - copied)) as Array<
        [number, string, string, number, string, string, string]
      >;
      if (rows.length === 0) break;
      const col = (i: number): unknown[] => rows.map((r) => r[i]);
      await client.query(
        `INSERT INTO ledger_events (position, event_id, stream_id, revision, type, data, metadata)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[])`,
        [col(0), col(1), col(2), col(3), col(4), col(5), col(6)],
      );
      after = rows[rows.length - 1]![0];
      copied += rows.length;
    }
  } finally {
    source.close();
    await client.end();
  }
  return db;
}
