// createApp(deps) builds the Koa app; main listens. Small composable middleware, one error mapper.
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import { requestMeta, type AppContext, type AppDeps } from './context.js';
import { authenticate, type Caller } from './auth.js';
import { readBody } from './body.js';
import { oauthCaller } from './client-auth.js';
import { extractCredential, offeredByKoa } from './credentials.js';
import { authRequired, errorMiddleware, HttpError, invalidToken } from './errors.js';
import { HttpMetrics } from '../metrics/http.js';
import { Metrics } from '../metrics/registry.js';
import { RequestObserver } from './observe.js';
import type { RouteDef } from './route.js';
import { queryValidator, validateBody } from './validate.js';
import { authRoutes } from './routes/auth.js';
import { keyRoutes } from './routes/keys.js';
import { opsRoutes } from './routes/ops.js';
import { oauthRoutes } from './routes/oauth.js';
import { userRoutes } from './routes/users.js';
import { workspaceRoutes } from './routes/workspaces.js';
import { followLoginEvent, PasswordGuard } from './password-guard.js';
import { buildOpenApi } from './openapi.js';
import { consoleAssets } from './console.js';
import { loggableUrl } from './redact.js';
import { rawVerify, VERIFY_PATH } from './raw-verify.js';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The node:http request listener: the raw verify hot path, and the Koa app for everything else. */
export function createHandler(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const app = createApp(deps);
  const koa = app.callback();
  const verify = rawVerify(app.context.env as AppContext, deps.logger);
  return (req, res) => {
    if (req.method === 'POST' && (req.url === VERIFY_PATH || req.url?.startsWith(`${VERIFY_PATH}?`)))
      void verify(req, res);
    else void koa(req, res);
  };
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: false });
  const metrics = deps.metrics ?? new Metrics();
  const httpMetrics = new HttpMetrics(metrics);
  const passwords = new PasswordGuard(
    {
      maxFailuresPerAccount: deps.config.loginMaxFailuresPerAccount,
      maxFailuresPerIp: deps.config.loginMaxFailuresPerIp,
      windowSeconds: deps.config.loginThrottleWindowSeconds,
    },
    () => deps.ledger.now(),
  );
  // Failures, successes and lifted lockouts are events: this instance's throttle follows them, whichever instance (or
  // the CLI) wrote them, so the limits and lockouts hold cluster-wide.
  deps.ledger.read.onApplied((e) =>
    followLoginEvent(passwords, e, (userId) => deps.ledger.read.findUser(userId)?.email),
  );
  const env: AppContext = {
    deps,
    passwords,
    metrics,
    httpMetrics,
    observer: new RequestObserver(deps.logger, httpMetrics),
    routes: [],
  };
  const routes: RouteDef[] = [
    ...authRoutes(env),
    ...userRoutes(env),
    ...workspaceRoutes(env),
    ...keyRoutes(env),
    ...oauthRoutes(env),
    ...opsRoutes(env),
    ...(deps.extraRoutes ?? []),
  ];
  env.routes.push(...routes);
  app.context.env = env;
  const openapi = buildOpenApi(routes);
  metrics.gauge(
    'ledger_read_model_position',
    'Global position the read model has applied',
    () => deps.ledger.read.position,
  );
  metrics.gauge('ledger_keys', 'API keys in the read model', () => deps.ledger.read.keyCount);
  metrics.gauge(
    'ledger_usage_pending',
    'Coalesced key uses waiting to be written',
    () => deps.ledger.usage.pendingCount,
  );

  app.use(observeRequests(env.observer));
  app.use(
    errorMiddleware((err, ctx) => deps.logger.error({ err, reqId: ctx.state.requestId as string }, 'request failed')),
  );
  const router = new Router();
  for (const def of routes) {
    const handler = bind(env, def);
    router.register(def.path, [def.method], handler);
  }
  router.get('/openapi.json', (ctx) => {
    ctx.body = openapi;
  });
  app.use(consoleAssets());
  app.use(router.routes());
  app.use(methodNotAllowed());
  return app;
}

/** A known path with a method it does not serve (any method, even one the router has never heard of): 405 with Allow. */
function methodNotAllowed() {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    if (ctx.status !== 404 || ctx.body !== undefined) return;
    const layers = (ctx as Context & { matched?: Array<{ methods: string[] }> }).matched ?? [];
    const allowed = [...new Set(layers.flatMap((l) => l.methods))];
    if (allowed.length === 0) return;
    const allow = allowed.join(', ');
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', allow);
      ctx.status = 204;
      return;
    }
    throw new HttpError(405, 'method_not_allowed', `${ctx.method} is not allowed here; use ${allow}.`, {
      headers: { Allow: allow },
    });
  };
}

/** Request id (honoured or made), X-Request-Id on the answer, then one access log line and the latency metric. */
function observeRequests(observer: RequestObserver) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const o = observer.begin(ctx.get('x-request-id'));
    ctx.state.requestId = o.requestId;
    ctx.set('X-Request-Id', o.requestId);
    try {
      await next();
    } finally {
      observer.end(o, {
        method: ctx.method,
        route: String((ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched'),
        status: ctx.status,
        ip: ctx.ip,
        url: () => loggableUrl(ctx.path, ctx.querystring),
      });
    }
  };
}

function bind(env: AppContext, def: RouteDef) {
  const readQuery = queryValidator(def.query);
  const oauth = def.auth === 'oauth-client' || def.auth === 'oauth-public';
  return async (ctx: Context): Promise<void> => {
    const meta = requestMeta(ctx);
    let caller: Caller | null = null;
    if (def.auth === 'required') {
      const cred = extractCredential(offeredByKoa(ctx), def.urlToken === true, env.deps.config.authSchemes);
      if (cred === null) throw authRequired();
      caller = await authenticate(env.deps.ledger, cred, meta, env.httpMetrics);
    } else if (def.auth === 'none' && ctx.query.api_token !== undefined && def.urlToken !== true) {
      // Open routes ignore credentials, but a token in a URL is still refused.
      throw invalidToken();
    }
    const query = readQuery(ctx.query);
    let body: Record<string, unknown> | undefined = undefined;
    if (def.body) {
      let raw = await readBody(ctx, { form: def.form === true });
      if (raw === undefined) {
        if (def.bodyRequired !== false)
          throw new HttpError(400, 'required', 'A JSON body is required.', { type: 'validation_error' });
        raw = {};
      }
      body = validateBody(def.body, raw);
    }
    // OAuth clients may authenticate in the form (client_secret_post), so they are known only once it is read.
    if (oauth) caller = await oauthCaller(env, ctx, body ?? {}, meta, def.auth === 'oauth-public');
    const result = await def.handler({
      ctx,
      body,
      query,
      params: ctx.params as Record<string, string>,
      caller: caller as Caller,
      command: {
        actor: caller
          ? caller.key
            ? { type: 'key', id: caller.key.id }
            : { type: 'user', id: caller.user.id }
          : { type: 'service', id: 'anonymous' },
        request: { ip: meta.ip, userAgent: meta.userAgent ?? undefined, requestId: meta.requestId },
        correlationId: meta.requestId,
      },
    });
    if (result !== undefined) {
      ctx.body = result;
      if (ctx.status === 404) ctx.status = 200;
    }
  };
}
