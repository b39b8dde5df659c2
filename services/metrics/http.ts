// What the HTTP layer counts: request latency, authentications, logins and password throttles.
import type { Counter, Histogram } from 'prom-client';
import type { Metrics } from './registry.js';

export type AuthOutcome = 'valid' | 'invalid';
export const LOGIN_OUTCOMES = ['success', 'bad_password', 'unknown_user', 'inactive', 'throttled'] as const;
export type LoginOutcome = (typeof LOGIN_OUTCOMES)[number];
export const THROTTLE_KINDS = ['login', 'password_change'] as const;
export type ThrottleKind = (typeof THROTTLE_KINDS)[number];

type RequestLabel = 'method' | 'route' | 'status';

export class HttpMetrics {
  private readonly requests: Histogram<RequestLabel>;
  /** Label children by "method route status": this runs on every request, so labels are resolved once per series. */
  private readonly series = new Map<string, Histogram.Internal<RequestLabel>>();
  private readonly authentications: Counter<'presentation' | 'outcome'>;
  /** Its label children, like `series` (a credential is checked on almost every request). */
  private readonly authSeries = new Map<string, Counter.Internal>();
  private readonly logins: Counter<'outcome'>;
  private readonly throttles: Counter<'kind'>;

  constructor(metrics: Metrics) {
    this.requests = metrics.histogram('http_request_duration_seconds', 'HTTP request latency', [
      'method',
      'route',
      'status',
    ]);
    this.authentications = metrics.counter(
      'ledger_authentications_total',
      'Credentials checked, by presentation and outcome',
      ['presentation', 'outcome'],
    );
    this.logins = metrics.counter('ledger_logins_total', 'Password logins, by outcome', ['outcome']);
    this.throttles = metrics.counter('ledger_throttled_total', 'Password checks refused by the throttle (429)', [
      'kind',
    ]);
    // Every outcome shows from the start, so a rate over a fresh series is not missing data.
    for (const outcome of LOGIN_OUTCOMES) this.logins.inc({ outcome }, 0);
    for (const kind of THROTTLE_KINDS) this.throttles.inc({ kind }, 0);
  }

  request(method: string, route: string, status: number, seconds: number): void {
    const k = `${method} ${route} ${status}`;
    let s = this.series.get(k);
    if (s === undefined) this.series.set(k, (s = this.requests.labels({ method, route, status })));
    s.observe(seconds);
  }

  authentication(presentation: string, outcome: AuthOutcome): void {
    const k = `${presentation} ${outcome}`;
    let c = this.authSeries.get(k);
    if (c === undefined) this.authSeries.set(k, (c = this.authentications.labels({ presentation, outcome })));
    c.inc();
  }

  login(outcome: LoginOutcome): void {
    this.logins.inc({ outcome });
  }

  throttled(kind: ThrottleKind): void {
    this.throttles.inc({ kind });
  }
}
