// close() ends a watcher at once, even while it waits a long reconnect backoff (the wait is aborted, not sat out).
import { expect } from 'chai';
import { createRevocationWatcher } from '../../clients/index.js';
import { waitUntil } from '../support/async.js';

describe('unit: revocation watcher close', () => {
  it('ends a 60 s reconnect wait at once', async () => {
    const errors: unknown[] = [];
    let attempts = 0;
    const watcher = createRevocationWatcher({
      url: 'http://127.0.0.1:1',
      reconnect: { initialMs: 60_000, maxMs: 60_000 },
      fetch: () => {
        attempts++;
        return Promise.reject(new Error('connection refused'));
      },
      onError: (e) => errors.push(e),
    });
    await waitUntil(() => errors.length === 1, 2000, 'the first connection to fail');
    const t0 = Date.now();
    await watcher.close();
    // Without the abort, close() would give up on the loop only after its own 2 s bound.
    expect(Date.now() - t0, 'close() duration').to.be.below(1000);
    expect(attempts).to.equal(1);
    expect(errors).to.have.length(1);
  });
});
