// Where a SQLite store's group commits run: on its writer thread for a file, inline for an in-memory database.
import type Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';
import { StoreUnavailableError } from '../errors.js';
import type { PlannedAppend } from './append-plan.js';
import { SqliteAppender, translateSqlite, type CommitOutcome } from './sqlite-appender.js';
import type { WriterReply, WriterRequest } from './sqlite-writer-thread.js';

export interface GroupCommitter {
  /** Commits one group; rejects with a store error (nothing committed) when the store fails. One group at a time. */
  commit(batch: readonly PlannedAppend[]): Promise<CommitOutcome[]>;
  close(): Promise<void>;
}

/** For `:memory:`, which no other connection can open: the commit runs on the caller's thread. */
export function inlineCommitter(db: Database.Database): GroupCommitter {
  const appender = new SqliteAppender(db);
  return {
    commit: (batch) => {
      try {
        return Promise.resolve(appender.commit(batch));
      } catch (err) {
        return Promise.reject(translateSqlite(err, 'append'));
      }
    },
    close: () => Promise.resolve(),
  };
}

/** For a reader of the file in another process (the publisher's, the snapshot job's): no writer thread to start. */
export function noCommitter(): GroupCommitter {
  return {
    commit: () => Promise.reject(new TypeError('this SQLite store was opened read-only')),
    close: () => Promise.resolve(),
  };
}

/** The commit, fsync included, runs on a worker thread with its own connection; the caller's loop only posts. */
export function threadCommitter(file: string): GroupCommitter {
  const worker = new Worker(new URL('./sqlite-writer-thread.js', import.meta.url), { workerData: { file } });
  worker.unref(); // held only while a group is under way: an idle store keeps no process alive
  let pending: { id: number; resolve: (o: CommitOutcome[]) => void; reject: (e: unknown) => void } | null = null;
  let nextId = 1;
  let failure: StoreUnavailableError | null = null;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

  const fail = (err: Error | null): void => {
    failure ??= new StoreUnavailableError(
      `sqlite writer thread ${err === null ? 'exited' : `failed: ${err.message}`}`,
      err,
      false,
    );
    // What it was committing may or may not have landed; a retry with the same event ids tells which.
    pending?.reject(failure);
    pending = null;
  };
  worker.on('error', (err) => fail(err));
  worker.on('exit', () => fail(null));
  worker.on('message', (m: WriterReply) => {
    const p = pending;
    if (p === null || p.id !== m.id) return;
    pending = null;
    worker.unref();
    if ('failed' in m) {
      p.reject(
        translateSqlite(Object.assign(new Error(m.failed.message), { code: m.failed.code ?? undefined }), 'append'),
      );
    } else p.resolve(m.outcomes);
  });

  return {
    commit: (batch) => {
      if (failure !== null) return Promise.reject(failure);
      if (pending !== null) return Promise.reject(new TypeError('one group at a time'));
      return new Promise((resolve, reject) => {
        const request: WriterRequest = { id: nextId++, batch };
        pending = { id: request.id, resolve, reject };
        worker.ref();
        worker.postMessage(request);
      });
    },
    close: async () => {
      if (failure === null) {
        failure = new StoreUnavailableError('store is closed', null, false);
        worker.ref(); // until it has closed its connection
        worker.postMessage('close');
      }
      await exited;
    },
  };
}
