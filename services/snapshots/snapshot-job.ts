// What the snapshot process is given and what it answers.
import type { Config } from '../config.js';

/** The environment variable that carries the job to the snapshot process (not argv: a database URL may hold a password). */
export const SNAPSHOT_JOB_ENV = 'LEDGER_SNAPSHOT_JOB';

export interface SnapshotJob {
  readonly store: Pick<Config, 'dataDir' | 'eventStoreUrl' | 'databaseUrl'>;
  readonly file: string;
  /** The revocation feed's snapshot, written in the same pass. */
  readonly feedFile: string;
}

export interface SnapshotDone {
  readonly type: 'done';
  /** The position the snapshot file now holds; `from` the one it held before (equal: nothing new, nothing written). */
  readonly position: number;
  readonly from: number;
  readonly bytes: number;
  /** The revocation feed's snapshot: the position it now holds and the bytes written (0: unchanged). */
  readonly feed: { readonly position: number; readonly bytes: number };
  readonly ms: number;
}

export type SnapshotMessage =
  | SnapshotDone
  | { readonly type: 'warn'; readonly msg: string; readonly detail: { file: string; reason: string; detail: string } }
  | { readonly type: 'failed'; readonly message: string };
