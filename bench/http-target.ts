// Bench target in its own process: the full Koa service, or a bare node:http server doing the same lookup, or Koa and
// its router alone around that same lookup (what the framework costs by itself).
// Both sides log the same way: with BENCH_ACCESS_LOG=on (default) one pino info line per request to /dev/null, else none.
import Router from '@koa/router';
import Koa from 'koa';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import pino from 'pino';
import { loadConfig } from '../services/config.js';
import { startServer } from '../services/server.js';
import { openLedger } from '../services/open-ledger.js';
import { loggableTarget } from '../services/http/redact.js';
import { keyJson, userJson, workspaceJson } from '../services/http/views.js';
import { effectiveScopes } from '../services/domain/permissions.js';

const [mode, dataDir] = process.argv.slice(2) as ['koa' | 'koa-bare' | 'bare' | 'floor', string];
const accessLog = (process.env.BENCH_ACCESS_LOG ?? 'on') !== 'off';
const level = accessLog ? 'info' : 'silent';
const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', LEDGER_DATA_DIR: dataDir, LOG_LEVEL: level });
const logger = pino({ level, base: { service: 'token-ledger' } }, pino.destination({ dest: '/dev/null', sync: false }));

if (mode === 'floor') {
  // No lookup, no logging: what the machine and the load generator alone add to a request's latency.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 }).end('{"ok":true}'),
    );
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.send?.({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
  });
} else if (mode === 'koa') {
  const running = await startServer(config, logger);
  process.send?.({ url: running.url });
} else {
  const { ledger } = await openLedger(config);
  await ledger.start();
  let seq = 0;
  /** The same lookups, the same use recording and the same response bodies as the service, minus the framework. */
  const answer = (
    method: string | undefined,
    auth: string,
    ua: string | null,
    ip: string | null,
    raw: () => string,
  ): { status: number; json: string | null } => {
    const caller = ledger.verifyAndRecord(auth.slice(auth.indexOf(' ') + 1), 'bearer', { ip, userAgent: ua });
    if (!caller.valid || !caller.key) return { status: 401, json: null };
    let out: unknown;
    if (method === 'POST') {
      const body = JSON.parse(raw()) as { token: string };
      const r = ledger.verifyAndRecord(body.token, 'direct', {});
      out = { valid: r.valid, code: r.code, key: r.key ? keyJson(ledger, r.key) : null };
    } else {
      const k = caller.key;
      const ws = ledger.read.findWorkspace(k.workspaceId);
      const role = ledger.read.roleOf(k.workspaceId, k.owner.id);
      out = {
        user: userJson(k.owner),
        workspace: ws ? workspaceJson(ws) : null,
        credential: {
          kind: 'api_key',
          keyId: k.id,
          scheme: 'bearer',
          expiresAt: k.requestedExpiresAt === null ? null : new Date(k.requestedExpiresAt).toISOString(),
        },
        scopes: role === null ? [] : [...effectiveScopes(role, k.scopes)],
        role,
      };
    }
    return { status: 200, json: JSON.stringify(out) };
  };
  const logRequest = (method: string | undefined, url: string | undefined, status: number, start: bigint): void => {
    if (!logger.isLevelEnabled('info')) return;
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    logger.info(
      { reqId: `req_${(seq++).toString(36)}`, method, url: loggableTarget(url ?? ''), status, ms },
      'request',
    );
  };
  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  const listening = (server: Server): void => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      process.send?.({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    });
  };
  if (mode === 'koa-bare') {
    // The framework alone: Koa and @koa/router around the same work, with none of the service's middleware.
    const app = new Koa();
    const router = new Router();
    const handle = async (ctx: Koa.Context): Promise<void> => {
      const raw = ctx.method === 'POST' ? await readBody(ctx.req) : '';
      const h = ctx.headers;
      const r = answer(
        ctx.method,
        h.authorization ?? '',
        h['user-agent'] ?? null,
        ctx.req.socket.remoteAddress ?? null,
        () => raw,
      );
      ctx.status = r.status;
      if (r.json !== null) {
        ctx.type = 'application/json; charset=utf-8';
        ctx.body = r.json;
      }
    };
    router.post('/v1/keys/verify', handle);
    router.get('/v1/auth/me', handle);
    app.use(async (ctx, next) => {
      const start = process.hrtime.bigint();
      await next();
      logRequest(ctx.method, ctx.url, ctx.status, start);
    });
    app.use(router.routes());
    const callback = app.callback();
    listening(createServer((req, res) => void callback(req, res)));
  } else {
    listening(
      createServer((req, res) => {
        const start = process.hrtime.bigint();
        // Plain callbacks, as the bare server always had: no promise per request in the baseline.
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const r = answer(
            req.method,
            req.headers.authorization ?? '',
            req.headers['user-agent'] ?? null,
            req.socket.remoteAddress ?? null,
            () => Buffer.concat(chunks).toString('utf8'),
          );
          if (r.json === null) res.writeHead(r.status).end();
          else
            res
              .writeHead(r.status, {
                'content-type': 'application/json; charset=utf-8',
                'content-length': Buffer.byteLength(r.json),
              })
              .end(r.json);
          logRequest(req.method, req.url, res.statusCode, start);
        });
      }),
    );
  }
}

// Exit cleanly on signals so profilers (--cpu-prof) can write their output.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
