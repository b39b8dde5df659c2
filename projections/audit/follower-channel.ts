// The writer process's side of its channel to the server (see follower-process.ts): its configuration, its reports,
// and the server's wake-ups and close; a server that is gone (even by kill -9) counts as a close.
import { LedgerError } from '../../events/errors.js';
import { nicedChildConfig } from '../niced-child.js';
import { FOLLOWER_CONFIG_ENV, type FollowerMessage } from './follower-process.js';

export class FollowerChannel<C> {
  readonly config: C;
  private closing = false;
  private wake: (() => void) | null = null;
  /** A wake-up that came while the writer was busy: its next sleep returns at once. */
  private woken = false;
  private readonly closeListeners: Array<() => void> = [];
  private readonly send: NonNullable<typeof process.send>;

  constructor(script: string) {
    this.config = nicedChildConfig<C>(script, FOLLOWER_CONFIG_ENV);
    this.send = process.send!.bind(process);
    process.on('message', (m: string) => (m === 'close' ? this.close() : this.wakeUp()));
    process.on('disconnect', () => this.close());
  }

  get closed(): boolean {
    return this.closing;
  }

  post(m: FollowerMessage): void {
    if (process.connected) this.send(m);
  }

  /** Resolves on the next wake-up or close, or after `ms`; at once if a wake-up came since the last sleep. */
  sleep(ms: number): Promise<void> {
    if (this.woken || this.closing) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /** Resolves once the server closes the channel (or is gone). */
  whenClosed(): Promise<void> {
    return this.closing ? Promise.resolve() : new Promise((resolve) => this.closeListeners.push(resolve));
  }

  /**
   * Reports a failure, already translated by its store (whose errors say whether they are retriable): retriable ones
   * too, for the server resumes by starting a new writer.
   */
  fail(err: unknown): void {
    const retriable = err instanceof LedgerError && err.retriable;
    this.post({ kind: 'error', message: err instanceof Error ? err.message : String(err), retriable });
  }

  /** Lets the process end (it ends once its channel no longer holds it open). */
  end(): void {
    if (process.connected) process.disconnect();
  }

  private wakeUp(): void {
    if (this.wake) this.wake();
    else this.woken = true;
  }

  private close(): void {
    this.closing = true;
    this.wake?.();
    for (const l of this.closeListeners.splice(0)) l();
  }
}
