// Operations: health, readiness, metrics, JWKS and the docs UI (served from installed npm assets).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import send from 'koa-send';
import type { AppContext } from '../context.js';
import { HttpError } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { z } from 'zod';
import { anyObject } from '../views.js';
import type { Ledger } from '../../ledger.js';
import { leaseMetrics, leasesCheck } from '../lease-status.js';

const require = createRequire(import.meta.url);
const SWAGGER_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
const ASSETS = new Set([
  'swagger-ui.css',
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'favicon-32x32.png',
  'favicon-16x16.png',
]);

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>token-ledger API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"><link rel="icon" href="/docs/assets/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`;

// A separate script file so a strict Content-Security-Policy (no inline scripts) holds. A pasted long-lived key must
// not outlive the tab, so authorization is never persisted to localStorage.
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', persistAuthorization: false, deepLinking: true });`;

/**
 * Read-model readiness: caught up at start, and still following the store. Behind the head is normal for a moment;
 * behind a head that was seen more than `maxLagMs` ago (a failed or stalled subscription) is not ready.
 */
export class ReadModelLag {
  private behind: { head: number; since: number } | null = null;

  constructor(
    private readonly ledger: Ledger,
    private readonly maxLagMs: number,
  ) {}

  async check(): Promise<{ ok: boolean; detail: Record<string, unknown> }> {
    const position = this.ledger.read.position;
    if (this.ledger.read.subscriptionError !== null)
      return { ok: false, detail: { position, reason: 'read model subscription failed' } };
    if (!this.ledger.read.isCaughtUp) return { ok: false, detail: { position, reason: 'catching up' } };
    let head: number;
    try {
      head = await this.ledger.store.headPosition();
    } catch {
      return { ok: false, detail: { position, reason: 'store unavailable' } };
    }
    const now = performance.now();
    if (position >= head) {
      this.behind = null;
      return { ok: true, detail: { position } };
    }
    if (this.behind === null || position >= this.behind.head) this.behind = { head, since: now };
    const lagMs = Math.round(now - this.behind.since);
    return {
      ok: lagMs < this.maxLagMs,
      detail: {
        position,
        head,
        lagMs,
        ...(lagMs < this.maxLagMs ? {} : { reason: 'read model is not following the store' }),
      },
    };
  }
}

const readiness = z.object({
  ready: z.boolean(),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.unknown().optional() })),
});

export function opsRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  const lag = new ReadModelLag(ledger, env.deps.config.readyMaxLagMs);
  const leases = env.deps.leases;
  if (leases) leaseMetrics(env.metrics, leases, env.deps.logger);
  return [
    route({
      method: 'GET',
      path: '/healthz',
      summary: 'Liveness',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'alive', schema: z.object({ status: z.string() }) } },
      handler: () => ({ status: 'ok' }),
    }),
    route({
      method: 'GET',
      path: '/readyz',
      summary:
        'Readiness: the read model has caught up, and every named dependency is healthy; `leases` (never failing) says who holds which singleton',
      tag: 'operations',
      auth: 'none',
      responses: {
        200: { description: 'ready', schema: readiness },
        503: { description: 'not ready', schema: readiness },
      },
      handler: async ({ ctx }) => {
        const checks = [
          { name: 'read_model', ...(await lag.check()) },
          ...(env.deps.readiness ?? []).map((c) => ({ name: c.name, ...c.check() })),
          ...(leases ? [await leasesCheck(leases, env.deps.logger)] : []),
        ];
        const ready = checks.every((c) => c.ok);
        ctx.status = ready ? 200 : 503;
        return { ready, checks };
      },
    }),
    route({
      method: 'GET',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'text exposition format', contentType: 'text/plain' } },
      handler: ({ ctx }) => {
        ctx.type = env.metrics.contentType;
        return env.metrics.render();
      },
    }),
    route({
      method: 'GET',
      path: '/.well-known/jwks.json',
      summary: 'Public keys for JWT-format keys, sessions and signed exports',
      tag: 'verification',
      auth: 'none',
      responses: { 200: { description: 'JWK set', schema: z.object({ keys: z.array(anyObject) }) } },
      handler: ({ ctx }) => {
        ctx.set('Cache-Control', 'public, max-age=300');
        return { keys: env.deps.publicJwks() };
      },
    }),
    route({
      method: 'GET',
      path: '/docs',
      summary: 'Interactive API documentation (Swagger UI, with an Authorize button)',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'HTML', contentType: 'text/html' } },
      handler: ({ ctx }) => {
        ctx.type = 'text/html';
        return DOCS_HTML;
      },
    }),
    route({
      method: 'GET',
      path: '/docs/init.js',
      summary: 'Docs bootstrap script',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'JavaScript', contentType: 'application/javascript' } },
      handler: ({ ctx }) => {
        ctx.type = 'application/javascript';
        return DOCS_INIT;
      },
    }),
    route({
      method: 'GET',
      path: '/docs/assets/:file',
      summary: 'Docs UI assets from the installed swagger-ui-dist package',
      tag: 'operations',
      auth: 'none',
      responses: { 200: { description: 'asset', contentType: '*/*' } },
      handler: async ({ ctx, params }) => {
        // Only the listed files, by exact name: nothing else in the package (or beside it) is reachable.
        const file = params.file ?? '';
        if (!ASSETS.has(file)) throw new HttpError(404, 'not_found', 'No such asset.');
        ctx.set('Cache-Control', 'public, max-age=86400');
        try {
          await send(ctx, file, { root: SWAGGER_DIR, index: false, gzip: false, brotli: false });
        } catch (err) {
          ctx.remove('Cache-Control');
          if ((err as { status?: unknown }).status === 404) throw new HttpError(404, 'not_found', 'No such asset.');
          throw err;
        }
        return undefined;
      },
    }),
  ];
}
