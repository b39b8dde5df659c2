// One gate for every path that checks a password (login, password change): the same per-account and per-IP
// throttles, admitted before the slow argon2 work, so no path is a free guessing oracle or a CPU amplifier.
// Failures are counted from the log's login events, so the limits hold across every instance sharing the store.
import { occurredAt, type StoredEvent } from '../../events/catalog.js';
import { HttpError } from './errors.js';
import { OncePerWindow, Throttle, type Ticket } from './throttle.js';

/** The throttle key of an account: its e-mail, as a login types it. */
export function accountKey(email: string): string {
  return email.trim().toLowerCase();
}

export type GuardOutcome = { readonly ok: true } | { readonly ok: false; readonly retryAfter: number | null };

export interface GuardSettings {
  readonly maxFailuresPerAccount: number;
  readonly maxFailuresPerIp: number;
  readonly windowSeconds: number;
}

export class PasswordGuard {
  private readonly account: Throttle;
  private readonly ip: Throttle;
  private readonly reports: OncePerWindow;

  constructor(
    s: GuardSettings,
    private readonly clock: () => number,
  ) {
    const windowMs = s.windowSeconds * 1000;
    this.account = new Throttle(s.maxFailuresPerAccount, windowMs);
    this.ip = new Throttle(s.maxFailuresPerIp, windowMs);
    this.reports = new OncePerWindow(windowMs);
  }

  /**
   * Runs `check` (the argon2 verification) once both throttles admit it. A refused attempt answers `retryAfter`
   * in seconds; a wrong password runs `recordFailure` (writes the failure event and waits until this instance's read
   * model applied it, which counts it via failed()) and answers `retryAfter: null`. The attempt holds its place until
   * then, so the failure is counted once and never missing in between.
   */
  async attempt(
    accountKey: string,
    ip: string,
    check: () => Promise<boolean>,
    recordFailure: () => Promise<void>,
  ): Promise<GuardOutcome> {
    const a = await this.account.enter(accountKey, this.clock);
    if (typeof a === 'number') return { ok: false, retryAfter: a };
    const i = await this.ip.enter(ip, this.clock);
    if (typeof i === 'number') {
      a.pass();
      return { ok: false, retryAfter: i };
    }
    let settled: Settled = 'unrecorded';
    try {
      if (await check()) settled = 'correct';
      else {
        await recordFailure();
        settled = 'recorded';
      }
    } finally {
      settle(a, i, settled, this.clock());
    }
    return settled === 'correct' ? { ok: true } : { ok: false, retryAfter: null };
  }

  /** A failed password check on any instance (an event in the log) counts against its account and its address. */
  failed(accountKey: string | null, ip: string | null, at: number): void {
    if (accountKey !== null && accountKey !== '') this.account.record(accountKey, at);
    if (ip !== null && ip !== '') this.ip.record(ip, at);
  }

  /** True the first time in a window an account (or IP) is throttled: that one refusal is recorded as an event. */
  firstThrottle(accountKey: string, ip: string): boolean {
    const now = this.clock();
    return this.reports.first(this.account.retryAfter(accountKey, now) > 0 ? `account:${accountKey}` : `ip:${ip}`, now);
  }

  /** A system admin lifted the account's lockout, or a correct password (on any instance) cleared its failures. */
  lift(accountKey: string): void {
    this.account.reset(accountKey);
  }
}

/** How an admitted attempt ended: right password; wrong, with its event applied; or wrong with no event (or an error). */
type Settled = 'correct' | 'recorded' | 'unrecorded';

function settle(a: Ticket, i: Ticket, how: Settled, now: number): void {
  if (how === 'unrecorded') {
    a.fail(now);
    i.fail(now);
    return;
  }
  a.pass(how === 'correct'); // a correct password clears the account's earlier failures
  i.pass();
}

/**
 * Follows the log's login events (every instance's read side applies them): failures of a password check count
 * (`throttled` refusals do not), a successful login clears the account's failures, a lifted lockout clears them too.
 * The account is its e-mail (lower-case), the address the event's request ip.
 */
export function followLoginEvent(
  guard: PasswordGuard,
  e: StoredEvent,
  emailOf: (userId: string) => string | undefined,
): void {
  switch (e.type) {
    case 'UserLoginFailed':
      if (e.data.reason !== 'throttled') countFailure(guard, accountKey(e.data.email), e);
      return;
    case 'UserPasswordChangeFailed':
      if (e.data.reason !== 'throttled') countFailure(guard, accountOf(emailOf, e.data.userId), e);
      return;
    case 'UserLoginSucceeded': {
      const key = accountOf(emailOf, e.data.userId);
      if (key !== null) guard.lift(key);
      return;
    }
    case 'UserLockoutLifted':
      guard.lift(accountKey(e.data.email));
      return;
    default:
      return;
  }
}

/** Only failures read the metadata: every event of the log passes followLoginEvent, most with it still unparsed. */
function countFailure(guard: PasswordGuard, account: string | null, e: StoredEvent): void {
  guard.failed(account, e.metadata.request.ip ?? null, occurredAt(e));
}

function accountOf(emailOf: (userId: string) => string | undefined, userId: string): string | null {
  const email = emailOf(userId);
  return email === undefined ? null : accountKey(email);
}

/** 429 with Retry-After: the shared password throttle holds this account or address back. */
export function throttled(retryAfter: number): HttpError {
  return new HttpError(429, 'throttled', 'Too many failed password attempts; try again later.', {
    headers: { 'Retry-After': String(retryAfter) },
    extra: { retryAfter },
  });
}
