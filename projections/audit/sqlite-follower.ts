// Follows the SQLite ledger into audit.db from a writer process (follower-process.ts): it reads the log file itself and
// writes the audit rows in large transactions; this side only wakes it after each commit and relays its positions.
import type { Subscription } from '../../events/store/types.js';
import { followInChild } from './follower-process.js';

/** The SQLite log as the follower needs it: its file, and a signal after each commit of this process. */
export interface LogFile {
  readonly file: string;
  watch(listener: () => void): () => void;
}

export interface FollowerConfig {
  readonly auditFile: string;
  readonly logFile: string;
  /** Names of the audit extensions to apply (resolved in the writer from the known ones). */
  readonly extensions: readonly string[];
  /** Events behind the log at start from which deferrable indexes are built after the rows (AuditDb.deferIndexes). */
  readonly deferIndexesBehind: number;
}

/** See FollowerConfig.deferIndexesBehind. */
export const DEFER_INDEXES_BEHIND = 50_000;

export function followInProcess(
  auditFile: string,
  extensions: readonly string[],
  log: LogFile,
  onPosition: (position: number) => void,
  onError: (err: unknown) => void,
  deferIndexesBehind = DEFER_INDEXES_BEHIND,
): Subscription {
  const config: FollowerConfig = { auditFile, logFile: log.file, extensions, deferIndexesBehind };
  const script = new URL('./sqlite-follower-worker.js', import.meta.url);
  return followInChild({ script, config, watch: (l) => log.watch(l) }, onPosition, onError);
}
