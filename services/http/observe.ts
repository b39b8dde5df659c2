// One observation per request, for both entry points (Koa and the raw verify path): request id, access log line, latency.
import type { Logger } from 'pino';
import type { HttpMetrics } from '../metrics/http.js';
import { looksLikeSecret } from './redact.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface Observation {
  readonly requestId: string;
  readonly start: bigint;
}

export interface Outcome {
  readonly method: string;
  /** The matched route pattern (a metric label, so never the raw path). */
  readonly route: string;
  readonly status: number;
  readonly ip: string;
  /** The loggable URL, built only when the line is logged. */
  readonly url: () => string;
}

export class RequestObserver {
  private seq = 0;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: HttpMetrics,
  ) {}

  /** Honours an incoming X-Request-Id that is short, plain and not credential-shaped; otherwise makes one. */
  begin(incoming: string | string[] | undefined): Observation {
    const requestId =
      typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) && !looksLikeSecret(incoming)
        ? incoming
        : `req_${Date.now().toString(36)}${(this.seq++).toString(36)}`;
    return { requestId, start: process.hrtime.bigint() };
  }

  end(o: Observation, r: Outcome): void {
    const seconds = Number(process.hrtime.bigint() - o.start) / 1e9;
    this.metrics.request(r.method, r.route, r.status, seconds);
    // Never log headers or raw URLs: credentials travel in both (and URL-encoded names would slip past a text match).
    if (this.logger.isLevelEnabled('info'))
      this.logger.info(
        {
          reqId: o.requestId,
          method: r.method,
          url: r.url(),
          status: r.status,
          ms: Math.round(seconds * 1e6) / 1e3,
          ip: r.ip,
        },
        'request',
      );
  }
}
