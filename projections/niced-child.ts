// Starts a compiled node script as a child process at a low CPU priority, with an IPC channel and its configuration
// in the environment (never argv: a database URL may hold a password). Shared by the audit writer, the snapshot job and
// the Kafka publisher:
// a process's garbage collector threads are niced with it (a worker thread's are not), and its memory goes back to the
// system when it exits (a worker thread's stays in this process's allocator).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `nice` runs the whole process (every thread it starts) at a lower priority; without it, it runs as is. */
const NICE = ['/usr/bin/nice', '/bin/nice'].find((p) => existsSync(p));
/** The pid of the process that started the child, so the child can tell when it is gone. */
const PARENT_ENV = 'LEDGER_PARENT_PID';
/** The nice value the child gives its autogroup (see niceOwnAutogroup). */
const NICE_ENV = 'LEDGER_CHILD_NICE';
/** The lowest CPU priority, for work that may wait (the audit writer, snapshots). */
export const LOWEST_PRIORITY = 19;

/** The command and arguments that run node with `args` at nice `level` (as is, without `nice`). */
export function nicedNode(args: readonly string[], level = LOWEST_PRIORITY): [string, string[]] {
  return NICE ? [NICE, ['-n', String(level), process.execPath, ...args]] : [process.execPath, [...args]];
}

/** Starts `script` at nice `level`, 1 (nearly the server's priority) to 19 (the lowest, the default). */
export function spawnNiced(script: URL, configEnv: string, config: unknown, level = LOWEST_PRIORITY): ChildProcess {
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new TypeError('a nice level is a whole number 1–19');
  const [cmd, argv] = nicedNode([fileURLToPath(script)], level);
  // Its own process group: a Ctrl-C or a group signal reaches the server, which closes it in order. No inherited stdout
  // or stderr: an inherited pipe shares its file flags with the child, and with it the server hung at exit on a stdout
  // nobody read.
  return spawn(cmd, argv, {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    detached: true,
    env: {
      ...process.env,
      [configEnv]: JSON.stringify(config),
      [PARENT_ENV]: String(process.pid),
      [NICE_ENV]: String(level),
    },
  });
}

/**
 * In the child: whether the process that started it is gone (even by kill -9). Its parent then changes; read from the
 * pid it was given, since the parent may be gone before the child's first line runs.
 */
export function parentGone(): boolean {
  return String(process.ppid) !== process.env[PARENT_ENV];
}

/** The child's configuration, as `spawnNiced` passed it; a TypeError when the script was not started that way. */
export function nicedChildConfig<C>(script: string, configEnv: string): C {
  const raw = process.env[configEnv];
  if (process.send === undefined || raw === undefined)
    throw new TypeError(`${script} runs as a child process started by spawnNiced`);
  niceOwnAutogroup(Number(process.env[NICE_ENV] ?? LOWEST_PRIORITY));
  return JSON.parse(raw) as C;
}

const AUTOGROUP = '/proc/self/autogroup';

/**
 * Its own session gives the child its own autogroup (Linux), and the scheduler weighs autogroups as equals whatever
 * their processes' nice: without this a niced child took as much CPU as the server. Unprivileged changes are
 * rate-limited system-wide (EAGAIN), so it tries again for a second; where it cannot, it says so on stderr.
 */
export function niceOwnAutogroup(level: number, attempt = 0): void {
  if (!existsSync(AUTOGROUP)) return;
  try {
    writeFileSync(AUTOGROUP, String(level));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && attempt < 10) {
      setTimeout(() => niceOwnAutogroup(level, attempt + 1), 110).unref();
      return;
    }
    process.stderr.write(`running at normal priority: ${AUTOGROUP}: ${(err as Error).message}\n`);
  }
}

/** Keeps the end of what a child writes to stderr (a crash's message), for the error that reports its exit. */
export function stderrTail(child: ChildProcess): () => string {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  return () => stderr.trim().split('\n').at(-1) ?? '';
}

/**
 * Relays `watch`'s signals (the server's commits) to the child as 'wake'. One is in flight at a time: a wake-up reads
 * every commit before it, and a busy child that reads its channel late must not leave a backlog of them in the server
 * (one per loop turn, and a niced child may read nothing for a second). Returns the unwatch.
 */
export function relayWakes(child: ChildProcess, watch: (listener: () => void) => () => void): () => void {
  let inFlight = false;
  let again = false;
  const send = (): void => {
    if (!child.connected) return;
    inFlight = true;
    again = false;
    // Called once the message is written to the channel; an error means the child is gone, which its exit reports.
    child.send('wake', (err) => {
      inFlight = false;
      if (err === null && again) send();
    });
  };
  return watch(() => {
    if (inFlight) again = true;
    else send();
  });
}
