// Waiting in tests: for a condition (never a fixed sleep), or for a promise to fail with one stable code.
import { expect } from 'chai';
import { LedgerError } from '../../events/errors.js';
import type { ErrorCode } from '../../services/domain/errors.js';

/** Polls `cond` every few ms until it holds, or throws naming `what` once `timeoutMs` has passed. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves to the error `p` rejects with, after checking it is a LedgerError with exactly `code`. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<LedgerError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(LedgerError);
    expect((e as LedgerError).code).to.equal(code);
    return e as LedgerError;
  }
  throw new Error(`expected a rejection with ${code}`);
}

/** Checks that `p` rejects because its AbortSignal was aborted. */
export async function rejectsAborted(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).name).to.equal('AbortError');
    return;
  }
  throw new Error('expected an abort');
}
