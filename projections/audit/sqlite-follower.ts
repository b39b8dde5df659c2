// Follows the SQLite ledger into audit.db from a child process at the lowest CPU priority: it reads the log file itself
// and writes the audit rows in large transactions, so neither the decoding nor the inserts share the request loop, and
// neither do its garbage collector's threads (a worker thread's would: they are per process, and not niced); this side
// only wakes it after each commit and relays the positions it has stored.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
  /** Names of the audit extensions to apply (resolved in the writer from the known ones). */
  readonly extensions: readonly string[];
  /** Events behind the log at start from which deferrable indexes are built after the rows (AuditDb.deferIndexes). */
  readonly deferIndexesBehind: number;
}

/** See FollowerConfig.deferIndexesBehind. */
export const DEFER_INDEXES_BEHIND = 50_000;

/** `nice` runs the whole writer process (every thread it starts) at the lowest priority; without it, it runs as is. */
const NICE = ['/usr/bin/nice', '/bin/nice'].find((p) => existsSync(p));

function startWriter(config: FollowerConfig): ChildProcess {
  const script = fileURLToPath(new URL('./sqlite-follower-worker.js', import.meta.url));
  const args = [script, JSON.stringify(config)];
  const [cmd, argv] = NICE ? [NICE, ['-n', '19', process.execPath, ...args]] : [process.execPath, args];
  // Its own process group: a Ctrl-C or a group signal reaches the server, which closes it in order; a server that dies
  // anyway disconnects the channel, and the writer stops after its current batch. No inherited stdout or stderr: an
  // inherited pipe shares its file flags with the child, and with it the server hung at exit on a stdout nobody read.
  return spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], detached: true });
}

export function followInProcess(
  auditFile: string,
  extensions: readonly string[],
  log: LogFile,
  onPosition: (position: number) => void,
  onError: (err: unknown) => void,
  deferIndexesBehind = DEFER_INDEXES_BEHIND,
): Subscription {
  const config: FollowerConfig = { auditFile, logFile: log.file, extensions, deferIndexesBehind };
  const child = startWriter(config);
  let closing = false;
  let caught!: () => void;
  let failed!: (err: unknown) => void;
  const caughtUp = new Promise<void>((resolve, reject) => {
    caught = resolve;
    failed = reject;
  });
  caughtUp.catch(() => undefined); // also reported through onError
  let failure: unknown = null;
  const fail = (err: unknown): void => {
    failure ??= err;
    failed(err);
    if (!closing) onError(err);
  };
  child.on('message', (m: FollowerMessage) => {
    if (m.kind === 'position') onPosition(m.position);
    else if (m.kind === 'caughtUp') caught();
    else fail(new StoreUnavailableError(`audit writer: ${m.message}`, null, m.retriable));
  });
  child.on('error', (err) =>
    fail(new StoreUnavailableError(`audit writer process failed: ${err.message}`, err, false)),
  );
  // The end of what it wrote to stderr (a crash's message), for the error that reports its exit.
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!closing && failure === null) {
        const why = stderr.trim().split('\n').at(-1) ?? '';
        fail(
          new StoreUnavailableError(
            `audit writer process exited (${code ?? signal})${why ? `: ${why}` : ''}`,
            null,
            false,
          ),
        );
      }
      resolve();
    }),
  );
  const tell = (m: string): void => {
    if (child.connected) child.send(m);
  };
  const unwatch = log.watch(() => tell('wake'));
  return {
    caughtUp,
    close: async () => {
      if (closing) return exited;
      closing = true;
      unwatch();
      tell('close');
      await exited;
    },
  };
}
