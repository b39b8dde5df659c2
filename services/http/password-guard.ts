// One gate for every path that checks a password (login, password change): the same per-account and per-IP
// throttles, admitted before the slow argon2 work, so no path is a free guessing oracle or a CPU amplifier.
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
   * in seconds; a wrong password answers `retryAfter: null` and counts against the account and the IP.
   */
  async attempt(accountKey: string, ip: string, check: () => Promise<boolean>): Promise<GuardOutcome> {
    const a = await this.account.enter(accountKey, this.clock);
    if (typeof a === 'number') return { ok: false, retryAfter: a };
    const i = await this.ip.enter(ip, this.clock);
    if (typeof i === 'number') {
      a.pass();
      return { ok: false, retryAfter: i };
    }
    let ok = false;
    try {
      ok = await check();
    } finally {
      settle(a, i, ok, this.clock());
    }
    return ok ? { ok } : { ok: false, retryAfter: null };
  }

  /** True the first time in a window an account (or IP) is throttled: that one refusal is recorded as an event. */
  firstThrottle(accountKey: string, ip: string): boolean {
    const now = this.clock();
    return this.reports.first(this.account.retryAfter(accountKey, now) > 0 ? `account:${accountKey}` : `ip:${ip}`, now);
  }

  /** A system admin lifted the account's lockout. */
  lift(accountKey: string): void {
    this.account.reset(accountKey);
  }
}

function settle(a: Ticket, i: Ticket, ok: boolean, now: number): void {
  if (ok) {
    a.pass(true); // a correct password clears the account's earlier failures
    i.pass();
  } else {
    a.fail(now);
    i.fail(now);
  }
}

/** 429 with Retry-After: the shared password throttle holds this account or address back. */
export function throttled(retryAfter: number): HttpError {
  return new HttpError(429, 'throttled', 'Too many failed password attempts; try again later.', {
    headers: { 'Retry-After': String(retryAfter) },
    extra: { retryAfter },
  });
}
