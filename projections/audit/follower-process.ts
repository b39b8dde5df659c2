// Runs an audit writer in a child process at the lowest CPU priority, so neither its decoding, its hashing nor its
// writes share the request loop, and neither do its garbage collector's threads (a worker thread's would: they are per
// process, and not niced). This side starts it, relays the positions it has stored, and closes it in order.
import { StoreUnavailableError } from '../../events/errors.js';
import type { Subscription } from '../../events/store/types.js';
import { relayWakes, spawnNiced, stderrTail } from '../niced-child.js';

/** What a writer process reports. */
export type FollowerMessage =
  | { readonly kind: 'position'; readonly position: number }
  | { readonly kind: 'caughtUp' }
  | { readonly kind: 'error'; readonly message: string; readonly retriable: boolean };

/** The environment variable that carries the writer's configuration (not argv: a database URL may hold a password). */
export const FOLLOWER_CONFIG_ENV = 'LEDGER_AUDIT_FOLLOWER_CONFIG';

export interface FollowerChild {
  /** The compiled writer script. */
  readonly script: URL;
  /** Its configuration, as JSON. */
  readonly config: unknown;
  /** Signals after each commit of this process, relayed as a wake-up; without it the writer watches for itself. */
  readonly watch?: (listener: () => void) => () => void;
}

/** Starts the writer; its subscription catches up when the writer first reaches the log's end, and closes it in order. */
export function followInChild(
  spec: FollowerChild,
  onPosition: (position: number) => void,
  onError: (err: unknown) => void,
): Subscription {
  const child = spawnNiced(spec.script, FOLLOWER_CONFIG_ENV, spec.config);
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
  const lastError = stderrTail(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!closing && failure === null) {
        const why = lastError();
        // Killed (the OOM killer's SIGKILL) is worth a new writer; a crash of its own (an abort, a fault) or an exit is not.
        fail(
          new StoreUnavailableError(
            `audit writer process exited (${code ?? signal})${why ? `: ${why}` : ''}`,
            null,
            signal === 'SIGKILL',
          ),
        );
      }
      resolve();
    }),
  );
  const tell = (m: string): void => {
    if (child.connected) child.send(m);
  };
  const unwatch = spec.watch ? relayWakes(child, spec.watch) : () => undefined;
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
