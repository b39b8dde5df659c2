// The password throttle counts failures from the log's events: a local failure is counted once (by its ticket until
// its event is applied, then by the event), failures other instances recorded count here, and out-of-order events
// keep the window right.
import { expect } from 'chai';
import type { StoredEvent } from '../../events/catalog.js';
import { followLoginEvent, PasswordGuard, type GuardOutcome } from '../../services/http/password-guard.js';
import { Throttle } from '../../services/http/throttle.js';

const KEY = 'someone@example.com';
const IP = '192.0.2.7';

function guard(maxFailuresPerAccount: number, now: { t: number }): PasswordGuard {
  return new PasswordGuard({ maxFailuresPerAccount, maxFailuresPerIp: 1000, windowSeconds: 60 }, () => now.t);
}

/** A failure write as the read model delivers it: the event is applied (counted) before the write resolves. */
const applied = (g: PasswordGuard, now: { t: number }) => (): Promise<void> => {
  g.failed(KEY, IP, now.t);
  return Promise.resolve();
};

function event(type: string, data: Record<string, unknown>, at: number, ip = IP): StoredEvent {
  return {
    type,
    data,
    metadata: {
      eventId: 'e',
      occurredAt: new Date(at).toISOString(),
      actor: { type: 'system', id: 'system' },
      request: { ip },
      correlationId: 'c',
      causationId: null,
      schemaVersion: 1,
    },
    streamId: 's',
    revision: 0,
    position: 1,
  } as unknown as StoredEvent;
}

describe('unit: password guard fed by login events', () => {
  it('counts a failure once: its ticket holds the place until the event is applied, then the event counts', async () => {
    const now = { t: 1_000_000 };
    const g = guard(3, now);
    for (let i = 0; i < 3; i++)
      expect(await g.attempt(KEY, IP, () => Promise.resolve(false), applied(g, now))).to.deep.equal({
        ok: false,
        retryAfter: null,
      });
    const fourth = await g.attempt(KEY, IP, () => expect.fail('must not be checked'), applied(g, now));
    expect(fourth).to.deep.equal({ ok: false, retryAfter: 60 });
  });

  it('counts failures other instances recorded (events only) against this instance’s attempts', async () => {
    const now = { t: 1_000_000 };
    const g = guard(3, now);
    for (let i = 0; i < 3; i++) g.failed(KEY, null, now.t - 10_000);
    const r = await g.attempt(KEY, IP, () => expect.fail('must not be checked'), applied(g, now));
    expect(r).to.deep.equal({ ok: false, retryAfter: 50 });
    now.t += 50_000;
    expect(await g.attempt(KEY, IP, () => Promise.resolve(true), applied(g, now))).to.deep.equal({ ok: true });
  });

  it('a failure whose event could not be written still counts on this instance, and the error reaches the caller', async () => {
    const now = { t: 1_000_000 };
    const g = guard(1, now);
    const down = new Error('store down');
    try {
      await g.attempt(
        KEY,
        IP,
        () => Promise.resolve(false),
        () => Promise.reject(down),
      );
      expect.fail('expected the write failure');
    } catch (err) {
      expect(err).to.equal(down);
    }
    expect((await g.attempt(KEY, IP, () => expect.fail('must not be checked'), applied(g, now))).ok).to.equal(false);
  });

  it('parallel wrong guesses: exactly the limit is checked while failure writes are in flight', async () => {
    const now = { t: 1_000_000 };
    const g = guard(2, now);
    let checks = 0;
    const slowWrite = async (): Promise<void> => {
      await new Promise((r) => setImmediate(r));
      g.failed(KEY, IP, now.t);
    };
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        g.attempt(
          KEY,
          IP,
          () => {
            checks++;
            return Promise.resolve(false);
          },
          slowWrite,
        ),
      ),
    );
    expect(checks).to.equal(2);
    const refused = (r: GuardOutcome): boolean => !r.ok && r.retryAfter !== null;
    expect(results.filter((r) => !refused(r))).to.have.length(2);
    expect(results.filter(refused)).to.have.length(4);
  });

  it('follows the log: throttled refusals do not count, a success or a lifted lockout clears the account', async () => {
    const now = { t: 1_000_000 };
    const g = guard(2, now);
    const emailOf = (id: string): string | undefined => (id === 'usr_1' ? 'Someone@Example.com' : undefined);
    const follow = (type: string, data: Record<string, unknown>): void =>
      followLoginEvent(g, event(type, data, now.t), emailOf);
    /** Whether a correct password from another address is let through to the check. */
    const admitted = async (): Promise<boolean> =>
      (await g.attempt(KEY, '198.51.100.1', () => Promise.resolve(true), applied(g, now))).ok;
    follow('UserLoginFailed', { userId: null, email: KEY, reason: 'throttled' });
    follow('UserLoginFailed', { userId: 'usr_1', email: KEY, reason: 'bad_password' });
    follow('UserPasswordChangeFailed', { userId: 'usr_1', reason: 'bad_password' });
    expect(await admitted()).to.equal(false); // two failures: the login and the password change
    follow('UserLoginSucceeded', { userId: 'usr_1', sessionId: 's', expiresAt: '' });
    expect(await admitted()).to.equal(true);
    follow('UserLoginFailed', { userId: null, email: KEY, reason: 'unknown_user' });
    follow('UserLoginFailed', { userId: null, email: KEY, reason: 'inactive' });
    expect(await admitted()).to.equal(false);
    follow('UserLockoutLifted', { userId: 'usr_1', email: 'SOMEONE@example.com' });
    expect(await admitted()).to.equal(true);
  });
});

describe('unit: throttle window with failures from several instances', () => {
  it('keeps failures in time order, so events that arrive out of order leave the window when they should', () => {
    const t = new Throttle(2, 1000);
    t.record('k', 500);
    t.record('k', 100); // written earlier on another instance, applied later here
    expect(t.retryAfter('k', 600)).to.equal(1);
    expect(t.retryAfter('k', 1150)).to.equal(0); // the failure at 100 has left the window
  });

  it('keeps only the newest `limit` failures: the lockout ends when the oldest of those leaves the window', () => {
    const t = new Throttle(2, 1000);
    for (const at of [0, 100, 200, 300]) t.record('k', at);
    expect(t.retryAfter('k', 1150)).to.equal(1); // 200 and 300 are still inside
    expect(t.retryAfter('k', 1250)).to.equal(0);
  });
});
