// A server-side catch-up subscription to $all, resubscribing after retriable failures from the last handled position.
import { excludeSystemEvents } from '@eventstore/db-client';
import type { AllStreamResolvedEvent, AllStreamSubscription } from '@eventstore/db-client';
import { setTimeout as delay } from 'node:timers/promises';
import { InvalidPositionError, StoreUnavailableError } from '../../errors.js';
import type { EventHandler, SubscribeOptions, Subscription } from '../types.js';
import { isInvalidPosition, translateEsdbError } from './errors.js';
import { fromCommit, isUserEvent, positionOf, sharedCommit, toRecorded } from './records.js';
import type { EsdbWire } from './wire.js';

const noop = (): void => undefined;

/** What a subscription needs from its store. */
export interface SubscriptionSource {
  readonly wire: EsdbWire;
  headPosition(): Promise<number>;
  /** Refuses a start position the store never handed out (INVALID_POSITION). */
  probe(position: number): Promise<void>;
  /** Consecutive failed (re)subscribe attempts before giving up. */
  readonly maxResubscribeAttempts: number;
}

/** A handler's own failure: ends the subscription as it is, never retried. */
class HandlerFailure extends Error {
  constructor(readonly error: unknown) {
    super('subscription handler failed');
  }
}

function stopStream(s: AllStreamSubscription): void {
  // Cancels the gRPC call; not awaited so close() cannot hang on a connection that is still being set up.
  s.unsubscribe().catch(noop);
  s.destroy();
}

/**
 * Events are consumed through the stream's async iterator, so the handler runs one event at a time and the next event
 * is not pulled until it has finished. `caughtUp` resolves once an event at or beyond the head position read when the
 * subscription started has been handled (immediately when there is nothing to catch up). The client's own `caughtUp`
 * event is not used: it fires when the marker passes the client's transform, which can be before buffered events reach
 * the handler. Each server subscription starts at the whole commit of the cursor, so two events sharing a commit
 * position (legacy TCP transactions) are seen and refused rather than silently skipped.
 */
export class EsdbSubscription implements Subscription {
  readonly caughtUp: Promise<void>;
  private cursor: number;
  private stopped = false;
  private current: AllStreamSubscription | undefined;
  private head: number | undefined;
  private isCaughtUp = false;
  private failures = 0;
  private resolveCaughtUp!: () => void;
  private rejectCaughtUp!: (e: unknown) => void;
  /** Aborted by close(): ends a backoff wait at once. */
  private readonly stopping = new AbortController();
  private readonly done: Promise<void>;

  constructor(
    private readonly source: SubscriptionSource,
    private readonly handler: EventHandler,
    opts: SubscribeOptions,
    private readonly onClose: () => void,
  ) {
    this.cursor = opts.after ?? -1;
    const onError = opts.onError ?? ((e: unknown) => console.error('subscription failed', e));
    this.caughtUp = new Promise<void>((res, rej) => {
      this.resolveCaughtUp = res;
      this.rejectCaughtUp = rej;
    });
    this.caughtUp.catch(noop);
    this.done = this.run().catch((err: unknown) => {
      if (this.stopped) return;
      this.stopped = true;
      this.rejectCaughtUp(err);
      onError(err);
    });
  }

  async close(): Promise<void> {
    this.onClose();
    this.stopped = true;
    this.stopping.abort();
    if (this.current) stopStream(this.current);
    await this.done;
  }

  /** Follows the log until closed; a retriable failure resubscribes after a backoff, anything else ends it. */
  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.follow();
        if (this.stopped) return;
        throw new StoreUnavailableError('eventstoredb subscription ended unexpectedly', null, true);
      } catch (err) {
        if (this.current) stopStream(this.current);
        this.current = undefined;
        if (this.stopped) return;
        if (err instanceof HandlerFailure) throw err.error;
        if (isInvalidPosition(err)) throw new InvalidPositionError(this.cursor, 'is not the position of a record', err);
        const e = translateEsdbError(err, 'subscribeToAll');
        this.failures++;
        if (!e.retriable || this.failures > this.source.maxResubscribeAttempts) throw e;
        await this.backoff();
      }
    }
  }

  /** One server subscription from the cursor, read until it ends, fails, or the subscription is closed. */
  private async follow(): Promise<void> {
    if (this.head === undefined) {
      const head = await this.source.headPosition();
      await this.source.probe(this.cursor);
      this.head = head;
      this.checkCaughtUp();
    }
    const sub = this.source.wire.subscribeToAll({
      fromPosition: fromCommit(this.cursor),
      filter: excludeSystemEvents(),
      resolveLinkTos: false,
    });
    this.current = sub;
    sub.once('confirmation', () => (this.failures = 0));
    if (this.stopped) {
      stopStream(sub);
      return;
    }
    let previous: number | undefined;
    for await (const resolved of sub as AsyncIterable<AllStreamResolvedEvent>) {
      if (this.stopped) break;
      this.failures = 0;
      previous = await this.deliver(resolved, previous);
      if (this.stopped) break;
    }
  }

  /** Hands one event to the handler (user events only) and moves the cursor past it; answers its position. */
  private async deliver(resolved: AllStreamResolvedEvent, previous: number | undefined): Promise<number | undefined> {
    const raw = resolved.event;
    if (!raw) return previous;
    const position = positionOf(raw, resolved.commitPosition);
    if (position === previous) throw sharedCommit(position);
    if (position <= this.cursor) return position; // the cursor's own commit, read again on (re)subscribing
    if (isUserEvent(raw)) {
      try {
        const r = this.handler(toRecorded(raw, position));
        if (r !== undefined) await r;
      } catch (e) {
        throw new HandlerFailure(e);
      }
    }
    this.cursor = position;
    this.checkCaughtUp();
    return position;
  }

  private checkCaughtUp(): void {
    if (!this.isCaughtUp && this.head !== undefined && this.cursor >= this.head) {
      this.isCaughtUp = true;
      this.resolveCaughtUp();
    }
  }

  private async backoff(): Promise<void> {
    try {
      await delay(Math.min(5000, 100 * 2 ** (this.failures - 1)), undefined, { signal: this.stopping.signal });
    } catch (err) {
      // Only close() ends the wait early; anything else is a real failure.
      if (!(this.stopping.signal.aborted && (err as Error).name === 'AbortError')) throw err;
    }
  }
}
