// The publisher's checkpoint: the last ledger position Kafka acknowledged. SQLite: its own small file, for one instance;
// on a shared store it lives in the ledger's PostgreSQL database (postgres-checkpoint.ts), so a new lease holder resumes.
// WAL + synchronous=FULL: set() returns only after the new position is on disk.
import Database from 'better-sqlite3';
import { secureSqliteFile } from '../../events/store/data-dir.js';

/** The SQLite file answers at once, a database by promise: the publisher awaits either. */
export interface CheckpointStore {
  /** -1 when nothing was published yet. */
  get(name: string): number | Promise<number>;
  /** Durable once it returns (or resolves). */
  set(name: string, position: number): void | Promise<void>;
  close(): void | Promise<void>;
}

export class SqliteCheckpointStore implements CheckpointStore {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { position: number }>;
  private readonly setStmt: Database.Statement<[string, number, string]>;

  constructor(readonly file: string) {
    secureSqliteFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at TEXT NOT NULL)',
    );
    this.getStmt = this.db.prepare('SELECT position FROM checkpoints WHERE name = ?');
    this.setStmt = this.db.prepare(
      'INSERT INTO checkpoints (name, position, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at',
    );
  }

  get(name: string): number {
    return this.getStmt.get(name)?.position ?? -1;
  }

  set(name: string, position: number): void {
    this.setStmt.run(name, position, new Date().toISOString());
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
