// What every route gets: the app's dependencies, the shared password gate, and the request's metadata.
import type { Context } from 'koa';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import type { Leases } from '../../events/store/leases.js';
import type { Config } from '../config.js';
import type { Ledger } from '../ledger.js';
import type { HttpMetrics } from '../metrics/http.js';
import type { Metrics } from '../metrics/registry.js';
import type { RequestObserver } from './observe.js';
import type { PasswordGuard } from './password-guard.js';
import type { RouteDef } from './route.js';

export interface ReadinessCheck {
  readonly name: string;
  check(): { ok: boolean; detail?: unknown };
}

export interface AppDeps {
  readonly ledger: Ledger;
  readonly config: Pick<
    Config,
    | 'authSchemes'
    | 'sessionTtlSeconds'
    | 'loginMaxFailuresPerAccount'
    | 'loginMaxFailuresPerIp'
    | 'loginThrottleWindowSeconds'
    | 'readyMaxLagMs'
  >;
  readonly logger: Logger;
  readonly publicJwks: () => JWK[];
  readonly metrics?: Metrics;
  readonly readiness?: ReadinessCheck[];
  /** Who holds which singleton lease (with this instance's id), for /readyz and /metrics. */
  readonly leases?: Leases;
  /** Routes contributed by other modules (audit, revocation feeds). */
  readonly extraRoutes?: RouteDef[];
}

export interface AppContext {
  readonly deps: AppDeps;
  /** The one throttle gate every password check goes through (login, password change). */
  readonly passwords: PasswordGuard;
  /** This app's registry (what /metrics renders) and the counters the HTTP layer moves. */
  readonly metrics: Metrics;
  readonly httpMetrics: HttpMetrics;
  /** Request id, access log and latency, shared by the Koa app and the raw verify path. */
  readonly observer: RequestObserver;
  readonly routes: RouteDef[];
}

export function requestMeta(ctx: Context): { ip: string; userAgent: string | null; requestId: string } {
  const ua = ctx.get('user-agent');
  return { ip: ctx.ip, userAgent: ua === '' ? null : ua.slice(0, 512), requestId: ctx.state.requestId as string };
}
