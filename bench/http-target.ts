// Bench target in its own process: the full Koa service, or a bare node:http server doing the same lookup.
// Both sides log the same way: with BENCH_ACCESS_LOG=on (default) one pino info line per request to /dev/null, else none.
import { createServer } from 'node:http';
import pino from 'pino';
import { loadConfig } from '../services/config.js';
import { startServer } from '../services/server.js';
import { openLedger } from '../services/open-ledger.js';
import { loggableTarget } from '../services/http/redact.js';
import { keyJson, userJson, workspaceJson } from '../services/http/views.js';
import { effectiveScopes } from '../services/domain/permissions.js';

const [mode, dataDir] = process.argv.slice(2) as ['koa' | 'bare' | 'floor', string];
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
  // The same lookups, the same use recording and the same response bodies as the service, minus the framework.
  const server = createServer((req, res) => {
    const start = process.hrtime.bigint();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      const ua = req.headers['user-agent'] ?? null;
      const ip = req.socket.remoteAddress ?? null;
      const caller = ledger.verifyAndRecord(auth.slice(auth.indexOf(' ') + 1), 'bearer', { ip, userAgent: ua });
      if (!caller.valid || !caller.key) res.writeHead(401).end();
      else {
        let out: unknown;
        if (req.method === 'POST') {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token: string };
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
        const json = JSON.stringify(out);
        res
          .writeHead(200, {
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(json),
          })
          .end(json);
      }
      if (logger.isLevelEnabled('info')) {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        logger.info(
          {
            reqId: `req_${(seq++).toString(36)}`,
            method: req.method,
            url: loggableTarget(req.url ?? ''),
            status: res.statusCode,
            ms,
          },
          'request',
        );
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.send?.({ url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
  });
}

// Exit cleanly on signals so profilers (--cpu-prof) can write their output.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
