// Generic catch-up-then-live subscription over any paged readAll; shared by adapters that poll or get woken.
import { setTimeout as sleep } from 'node:timers/promises';
import { LedgerError } from '../errors.js';
import type { EventHandler, ReadAllPage, Subscription } from './types.js';

/** Backoff for a read the store says may succeed if tried again (a dropped connection, a failover). */
const RETRY_MS = { first: 50, max: 2000 } as const;

/** Reads a page, retrying only the failures the store marks retriable; anything else ends the subscription. */
async function readWithRetry(
  source: CatchUpSource,
  after: number,
  pageSize: number,
  signal: AbortSignal,
): Promise<ReadAllPage> {
  for (let delay: number = RETRY_MS.first; ; delay = Math.min(RETRY_MS.max, delay * 2)) {
    try {
      return await source.readAll({ after, maxCount: pageSize });
    } catch (err) {
      if (!(err instanceof LedgerError && err.retriable) || signal.aborted) throw err;
      await sleep(delay, undefined, { signal }).catch(() => undefined);
    }
  }
}

export interface CatchUpSource {
  readAll(opts: { after: number; maxCount: number }): Promise<ReadAllPage>;
  /** Resolves when new events may exist (an in-process append, or a poll tick). */
  waitForChange(signal: AbortSignal): Promise<void>;
}

export function catchUpSubscription(
  source: CatchUpSource,
  handler: EventHandler,
  after: number,
  onError: (err: unknown) => void,
  pageSize = 1000,
): Subscription {
  const abort = new AbortController();
  let resolveCaughtUp!: () => void;
  let rejectCaughtUp!: (e: unknown) => void;
  const caughtUp = new Promise<void>((res, rej) => {
    resolveCaughtUp = res;
    rejectCaughtUp = rej;
  });
  caughtUp.catch(() => undefined);
  let isCaughtUp = false;
  let cursor = after;

  const run = async (): Promise<void> => {
    // One armed wake-up at a time: re-arming per page would pile up waiters during a long catch-up.
    let changed: Promise<void> | null = null;
    let fired = false;
    while (!abort.signal.aborted) {
      // Arm the wake-up before reading, so an append between read and wait is not missed.
      if (changed === null || fired) {
        fired = false;
        changed = source.waitForChange(abort.signal).then(() => {
          fired = true;
        });
      }
      const page = await readWithRetry(source, cursor, pageSize, abort.signal);
      for (const ev of page.events) {
        if (abort.signal.aborted) return;
        const r = handler(ev);
        if (r !== undefined) await r;
        cursor = ev.position;
      }
      if (page.events.length > 0 && !page.isEnd) continue;
      if (!isCaughtUp) {
        isCaughtUp = true;
        resolveCaughtUp();
      }
      await changed;
      changed = null;
    }
  };
  const done = run().catch((err: unknown) => {
    if (abort.signal.aborted) return;
    rejectCaughtUp(err);
    onError(err);
  });

  return {
    caughtUp,
    async close() {
      abort.abort();
      await done;
    },
  };
}
