// What the snapshot worker is given and what it answers.
import type { Config } from '../config.js';

export interface SnapshotJob {
  readonly store: Pick<Config, 'dataDir' | 'eventStoreUrl' | 'databaseUrl'>;
  readonly file: string;
}

export interface SnapshotDone {
  readonly type: 'done';
  /** The position the snapshot file now holds; `from` the one it held before (equal: nothing new, nothing written). */
  readonly position: number;
  readonly from: number;
  readonly bytes: number;
  readonly ms: number;
}

export type SnapshotMessage =
  | SnapshotDone
  | { readonly type: 'warn'; readonly msg: string; readonly detail: { file: string; reason: string; detail: string } };
