// A pooled PostgreSQL connection that cannot crash the process: a connection whose backend dies between two queries
// emits 'error' with nobody listening; the next query on it fails instead, and its caller handles that.
import type pg from 'pg';

const guarded = new WeakSet<pg.PoolClient>();

export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const c = await pool.connect();
  if (!guarded.has(c)) {
    c.on('error', () => undefined); // surfaced by the next query on this connection, which then is not reused
    guarded.add(c);
  }
  return c;
}
