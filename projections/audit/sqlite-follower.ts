// Follows the SQLite ledger into audit.db from a worker thread: the worker reads the log file itself and writes the
// audit rows in large transactions, so neither the decoding nor the inserts share the request loop; this side only
// wakes it after each commit and relays the positions it has stored.
import { Worker } from 'node:worker_threads';
import { StoreUnavailableError } from '../../events/errors.js';
import type { Subscription } from '../../events/store/types.js';

/** The SQLite log as the follower needs it: its file, and a signal after each commit of this process. */
export interface LogFile {
  readonly file: string;
  watch(listener: () => void): () => void;
}

/** What the worker reports. */
export type FollowerMessage =
  | { readonly kind: 'position'; readonly position: number }
  | { readonly kind: 'caughtUp' }
  | { readonly kind: 'error'; readonly message: string; readonly retriable: boolean };

export interface FollowerConfig {
  readonly auditFile: string;
  readonly logFile: string;
  /** Names of the audit extensions to apply (resolved in the worker from the known ones). */
  readonly extensions: readonly string[];
  /** Events behind the log at start from which deferrable indexes are built after the rows (AuditDb.deferIndexes). */
  readonly deferIndexesBehind: number;
}

/** See FollowerConfig.deferIndexesBehind. */
export const DEFER_INDEXES_BEHIND = 50_000;

export function followInWorker(
  auditFile: string,
  extensions: readonly string[],
  log: LogFile,
  onPosition: (position: number) => void,
  onError: (err: unknown) => void,
  deferIndexesBehind = DEFER_INDEXES_BEHIND,
): Subscription {
  const config: FollowerConfig = { auditFile, logFile: log.file, extensions, deferIndexesBehind };
  const worker = new Worker(new URL('./sqlite-follower-worker.js', import.meta.url), { workerData: config });
  let closing = false;
  let caught!: () => void;
  let failed!: (err: unknown) => void;
  const caughtUp = new Promise<void>((resolve, reject) => {
    caught = resolve;
    failed = reject;
  });
  caughtUp.catch(() => undefined); // also reported through onError
  const fail = (err: unknown): void => {
    failed(err);
    if (!closing) onError(err);
  };
  worker.on('message', (m: FollowerMessage) => {
    if (m.kind === 'position') onPosition(m.position);
    else if (m.kind === 'caughtUp') caught();
    else fail(new StoreUnavailableError(`audit writer: ${m.message}`, null, m.retriable));
  });
  worker.on('error', (err) =>
    fail(new StoreUnavailableError(`audit writer thread failed: ${err.message}`, err, false)),
  );
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const unwatch = log.watch(() => worker.postMessage('wake'));
  return {
    caughtUp,
    close: async () => {
      if (closing) return exited;
      closing = true;
      unwatch();
      worker.postMessage('close');
      await exited;
    },
  };
}
