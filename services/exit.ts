// Ends the process without ever blocking on a stdout nobody reads.
//
// pino writes asynchronously and, on 'exit', flushes what is left synchronously, retrying EAGAIN with Atomics.wait
// until the write goes through. When the reader of stdout has stopped reading (a full pipe), that retry never ends:
// the store is closed, process.exit() has been called, and the main thread waits on a futex forever. So the log
// stream is ended here with a bounded wait, then destroyed, which makes pino's exit flush a no-op.
import pino, { type Logger } from 'pino';

/** How long buffered log lines may take to drain before the process exits without them. */
export const LOG_DRAIN_MS = 250;

interface LogStream {
  readonly destroyed?: boolean;
  write(chunk: string): boolean;
  end(): void;
  destroy(): void;
  once(event: 'close', fn: () => void): unknown;
}

function logStreamOf(logger: Logger): LogStream | null {
  const s = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as Partial<LogStream> | undefined;
  return s && typeof s.end === 'function' && typeof s.destroy === 'function' && typeof s.once === 'function'
    ? (s as LogStream)
    : null;
}

export function exitProcess(logger: Logger, code: number, drainMs = LOG_DRAIN_MS): void {
  const stream = logStreamOf(logger);
  if (stream === null || stream.destroyed === true) {
    process.exit(code);
    return;
  }
  let exiting = false;
  const exit = (drained: boolean): void => {
    if (exiting) return;
    exiting = true;
    if (!drained) process.stderr.write('token-ledger: stdout is not being read; the last log lines were dropped\n');
    try {
      stream.destroy();
    } catch {
      // Already destroyed: pino's exit flush has nothing left to do either way.
    }
    process.exit(code);
  };
  // Not unref'd: this timer is what ends the process when stdout never drains.
  const timer = setTimeout(() => exit(false), drainMs);
  stream.once('close', () => {
    clearTimeout(timer);
    exit(true);
  });
  try {
    stream.end();
    // What is logged from here on (a close() still running) is dropped: a destroyed stream would throw instead.
    stream.write = () => true;
  } catch {
    exit(false);
  }
}
