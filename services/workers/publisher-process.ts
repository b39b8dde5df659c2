// Runs the server's Kafka publisher in a child process below the server's CPU priority, so its reading, encoding and
// sending never share the request loop (in the server's process it took about 45% of verify throughput at 5k
// events/s). This side starts it when the lease is granted, wakes it after each commit, mirrors its status and
// metrics, restarts it after a crash, and stops it in order: stop() resolves only once it has exited, so a lease is
// never held by two.
import type { ChildProcess } from 'node:child_process';
import { relayWakes, spawnNiced, stderrTail } from '../../projections/niced-child.js';
import type { Config } from '../config.js';
import type { PublisherConfig, PublisherSettings } from '../revocations/create-publisher.js';
import type { LogFn, PublisherHandle, PublisherStatus } from './publisher.js';

/** The environment variable that carries the child's configuration (not argv: a database URL may hold a password). */
export const PUBLISHER_CHILD_ENV = 'LEDGER_PUBLISHER_CHILD';

export interface PublisherChildConfig {
  /** What openStore and createPublisher need: the same store as the server's, and the same checkpoint. */
  readonly config: PublisherConfig & Pick<Config, 'eventStoreUrl'>;
  readonly settings: PublisherSettings;
  /** How often the child reports its status. */
  readonly statusMs: number;
}

/** What the server sends: a commit happened, stop, or render your metrics. */
export type ToPublisherChild = 'wake' | 'stop' | { readonly kind: 'metrics'; readonly id: number };

export type FromPublisherChild =
  | { readonly kind: 'status'; readonly status: PublisherStatus }
  | { readonly kind: 'metrics'; readonly id: number; readonly text: string }
  | {
      readonly kind: 'log';
      readonly level: Parameters<LogFn>[0];
      readonly msg: string;
      readonly extra?: Record<string, unknown>;
    }
  | { readonly kind: 'failed'; readonly message: string };

const SCRIPT = new URL('./publisher-child.js', import.meta.url);
const STATUS_MS = 200;
/**
 * Below the server, above the audit writer and snapshots (19): revocations must reach the bus within a second even
 * while the cores are saturated. At 19 the soak on PostgreSQL measured publisher lags of 1.3 and 4.6 s; at 5, 0.8 s.
 */
export const PUBLISHER_NICE = 5;
/** Its publisher's stop waits up to 3 s for a send in flight, then closes its connection; past this it is killed. */
const STOP_GRACE_MS = 10_000;
const METRICS_TIMEOUT_MS = 2000;
const RESPAWN = { initialMs: 100, maxMs: 5000 };

export interface PublisherProcessOptions {
  readonly child: Omit<PublisherChildConfig, 'statusMs'>;
  /** Signals after each commit of this process (a SQLite log); stores that notify other processes need none. */
  readonly watch?: (listener: () => void) => () => void;
  readonly log: LogFn;
}

/** A status before the child's first report, or after it is gone. */
function idleStatus(state: PublisherStatus['state'], last?: PublisherStatus): PublisherStatus {
  return {
    state,
    checkpoint: last?.checkpoint ?? -1,
    head: last?.head ?? -1,
    lagEvents: 0,
    lagPositions: last?.lagPositions ?? 0,
    lagSeconds: 0,
    lagMs: 0,
    readerOk: false,
    lastHeartbeatAt: last?.lastHeartbeatAt ?? null,
    connected: false,
    lastError: last?.lastError ?? null,
    lastErrorAt: last?.lastErrorAt ?? null,
    published: last?.published ?? 0,
  };
}

export class PublisherProcess implements PublisherHandle {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private running = false;
  private respawnTimer: NodeJS.Timeout | null = null;
  private respawnMs = RESPAWN.initialMs;
  private last: PublisherStatus = idleStatus('stopped');
  private nextId = 1;
  private readonly replies = new Map<number, (text: string) => void>();

  constructor(private readonly o: PublisherProcessOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.respawnMs = RESPAWN.initialMs;
    this.last = idleStatus('starting', this.last);
    this.spawn();
  }

  /** The running child process's pid, if one runs. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** The child's last report (at most STATUS_MS old), or what its absence means. */
  status(): PublisherStatus {
    return this.last;
  }

  /** The child's counters and histograms as exposition text; none while no child runs (a standby, a restart). */
  metricsText(): Promise<string> {
    const child = this.child;
    if (child === null || !child.connected) return Promise.resolve('');
    const id = this.nextId++;
    return new Promise((resolve) => {
      const done = (text: string): void => {
        clearTimeout(timer);
        this.replies.delete(id);
        resolve(text);
      };
      const timer = setTimeout(() => done(''), METRICS_TIMEOUT_MS);
      this.replies.set(id, done);
      this.tell(child, { kind: 'metrics', id });
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.respawnTimer !== null) clearTimeout(this.respawnTimer);
    this.respawnTimer = null;
    const child = this.child;
    if (child !== null) {
      this.tell(child, 'stop');
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(kill);
    }
    this.last = idleStatus('stopped', this.last);
  }

  private tell(child: ChildProcess, m: ToPublisherChild): void {
    if (child.connected) child.send(m);
  }

  private spawn(): void {
    this.respawnTimer = null;
    const child = spawnNiced(SCRIPT, PUBLISHER_CHILD_ENV, { ...this.o.child, statusMs: STATUS_MS }, PUBLISHER_NICE);
    this.child = child;
    const stderr = stderrTail(child);
    const unwatch = this.o.watch ? relayWakes(child, this.o.watch) : () => undefined;
    let failure: string | null = null;
    child.on('message', (m: FromPublisherChild) => {
      if (m.kind === 'status') {
        // A report after stop() began must not undo it.
        if (this.running) this.last = m.status;
        if (m.status.state === 'publishing') this.respawnMs = RESPAWN.initialMs;
      } else if (m.kind === 'metrics') this.replies.get(m.id)?.(m.text);
      else if (m.kind === 'log') this.o.log(m.level, m.msg, m.extra);
      else failure = m.message;
    });
    let gone = false;
    let settle!: () => void;
    this.exited = new Promise((resolve) => (settle = resolve));
    const onGone = (why: string): void => {
      if (gone) return;
      gone = true;
      unwatch();
      this.child = null;
      for (const reply of [...this.replies.values()]) reply('');
      if (this.running) {
        const lastError = `publisher process ${why}`;
        this.o.log('error', lastError, { retryInMs: this.respawnMs });
        this.last = { ...idleStatus('retrying', this.last), lastError, lastErrorAt: new Date().toISOString() };
        this.respawnTimer = setTimeout(() => this.spawn(), this.respawnMs);
        this.respawnMs = Math.min(this.respawnMs * 2, RESPAWN.maxMs);
      }
      settle();
    };
    child.once('exit', (code, signal) => {
      const detail = failure ?? stderr();
      onGone(`exited (${code ?? signal})${detail ? `: ${detail}` : ''}`);
    });
    // A process that never started emits no 'exit'. Any other error is a send to a child that is going (its exit
    // follows), and is logged: an 'error' event nobody listens to would end the server.
    child.on('error', (err) => {
      if (child.pid === undefined) onGone(`could not start: ${err.message}`);
      else this.o.log('warn', 'publisher process channel failed', { err: err.message });
    });
  }
}
