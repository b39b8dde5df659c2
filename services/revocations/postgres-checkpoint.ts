// The publisher's checkpoint in the ledger's PostgreSQL database: whichever instance holds the kafka-publisher lease
// resumes where the last acknowledged batch ended. Client: `pg`, the driver the PostgreSQL event store already uses.
import pg from 'pg';
import type { LedgerError } from '../../events/errors.js';
import { pgError } from '../../events/store/pg-errors.js';
import type { CheckpointStore } from './checkpoint.js';

const TABLE = `CREATE TABLE IF NOT EXISTS ledger_publisher_checkpoints (
  name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`;

// GREATEST: a former holder's late acknowledgement and a new holder's smaller batch both stay true statements, and
// the checkpoint never moves back (which would only re-send, never skip, but there is no need to).
const UPSERT = `INSERT INTO ledger_publisher_checkpoints AS c (name, position, updated_at) VALUES ($1, $2, now())
  ON CONFLICT (name) DO UPDATE SET position = GREATEST(c.position, EXCLUDED.position), updated_at = now()`;

function unavailable(err: unknown, what: string): LedgerError {
  return pgError(err, `publisher checkpoint ${what}`);
}

export class PostgresCheckpointStore implements CheckpointStore {
  private readonly pool: pg.Pool;
  private ready: Promise<void> | null = null;
  private closed = false;

  constructor(url: string, log: (msg: string, err: unknown) => void) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    // An idle connection that dies is dropped by the pool; the next query opens another and reports its own failure.
    this.pool.on('error', (err) => log('publisher checkpoint connection dropped', err));
  }

  /** Creates the table once; a failed try is forgotten, so the next call tries again. */
  private table(): Promise<void> {
    this.ready ??= this.pool.query(TABLE).then(
      () => undefined,
      (err: unknown) => {
        this.ready = null;
        throw err;
      },
    );
    return this.ready;
  }

  async get(name: string): Promise<number> {
    try {
      await this.table();
      const r = await this.pool.query<{ position: string }>(
        'SELECT position FROM ledger_publisher_checkpoints WHERE name = $1',
        [name],
      );
      const row = r.rows[0];
      return row === undefined ? -1 : Number(row.position);
    } catch (err) {
      throw unavailable(err, 'read');
    }
  }

  async set(name: string, position: number): Promise<void> {
    try {
      await this.table();
      await this.pool.query(UPSERT, [name, position]);
    } catch (err) {
      throw unavailable(err, 'write');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
