// The data folder holds password hashes, sealed tokens, e-mails and keys: only the service's own user may enter it or read its files.
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

const DATA_DIR_MODE = 0o700;
const DATA_FILE_MODE = 0o600;
const STICKY = 0o1000;

/** Creates the folder with mode 0700, or tightens an existing one to 0700. */
export function secureDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  const mode = statSync(dir).mode;
  // A sticky folder such as /tmp is shared by design: closing it would lock every other user out, so only the files are tightened.
  if ((mode & STICKY) === 0 && (mode & 0o777) !== DATA_DIR_MODE) chmodSync(dir, DATA_DIR_MODE);
}

/** Tightens an existing file to 0600; a missing one is left missing. */
export function secureFile(path: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st !== undefined && (st.mode & 0o777) !== DATA_FILE_MODE) chmodSync(path, DATA_FILE_MODE);
}

/** Readies a SQLite database file: its folder 0700; the file, and any -wal, -shm or -journal an earlier run left, 0600. */
export function secureSqliteFile(file: string): void {
  if (file === ':memory:' || file === '') return; // in-memory and temporary databases have no file of their own
  secureDataDir(dirname(file));
  // Created here at 0600 rather than by SQLite at 0644: SQLite gives the -wal and -shm it creates later the database file's mode, so no process-wide umask is needed.
  closeSync(openSync(file, 'a', DATA_FILE_MODE));
  for (const suffix of ['', '-wal', '-shm', '-journal']) secureFile(file + suffix);
}
