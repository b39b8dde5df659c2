// A database of its own for each test, on the machine's PostgreSQL (LEDGER_TEST_PG_URL, default the local trust login).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.LEDGER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Creates an empty database; drop() removes it, ending whatever connections are still open to it. */
export async function freshDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `tl_${label.replace(/[^a-z0-9]/g, '')}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Ends every backend connected to the database (what a failover or an operator's pg_terminate_backend does). */
export async function terminateBackends(name: string): Promise<number> {
  return admin(async (c) => {
    const r = await c.query(
      'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    return Number((r.rows[0] as { n: string }).n);
  });
}
