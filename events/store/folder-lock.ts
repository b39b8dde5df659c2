// SQLite mode is single-instance: a server holds an exclusive OS lock on its data folder for as long as it runs.
// The lock is SQLite's own (fcntl) on lock.db, so it is released when the process dies, even by kill -9.
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { secureFile, secureSqliteFile } from './data-dir.js';

export class FolderLockedError extends Error {
  override name = 'FolderLockedError';
  constructor(
    readonly dir: string,
    readonly holderPid: number | null,
  ) {
    super(
      `${dir} is in use by another token-ledger process${holderPid === null ? '' : ` (pid ${holderPid})`}; SQLite mode runs one instance per data folder`,
    );
  }
}

export interface FolderLock {
  release(): void;
}

/** Takes the folder's exclusive lock or throws FolderLockedError naming the holder's pid. */
export function lockDataFolder(dir: string): FolderLock {
  const file = join(dir, 'lock.db');
  const pidFile = join(dir, 'lock.pid');
  secureSqliteFile(file);
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    let pid: number | null = null;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim()) || null;
    } catch {
      pid = null;
    }
    throw new FolderLockedError(dir, pid);
  }
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  secureFile(pidFile); // one an earlier run left keeps its old mode otherwise
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      db.close();
    },
  };
}
