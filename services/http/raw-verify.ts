// POST /v1/keys/verify straight on node:http: the hot path for services that check a token per request.
// It runs the same credential, validation, permission and verdict functions as the Koa route.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AppContext } from './context.js';
import { authenticate } from './auth.js';
import { parseBody, readRequest } from './body.js';
import { extractCredential, offeredByNode } from './credentials.js';
import { authRequired, HttpError, toResponse } from './errors.js';
import { loggableTarget } from './redact.js';
import { validateBody } from './validate.js';
import { verifyBodySchema, verifyResponse } from './routes/keys.js';

export const VERIFY_PATH = '/v1/keys/verify';

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      ...headers,
    })
    .end(json);
}

export function rawVerify(env: AppContext, logger: Logger) {
  const { ledger } = env.deps;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const observed = env.observer.begin(req.headers['x-request-id']);
    const { requestId } = observed;
    // Read now: a socket the client already closed no longer knows its peer.
    const ip = req.socket.remoteAddress ?? '';
    try {
      const cred = extractCredential(offeredByNode(req), false, env.deps.config.authSchemes);
      if (cred === null) throw authRequired();
      const ua = req.headers['user-agent'];
      const caller = await authenticate(ledger, cred, { ip, userAgent: ua ? ua.slice(0, 512) : null }, env.httpMetrics);
      const body = parseBody(await readRequest(req), req.headers['content-type']);
      if (body === undefined)
        throw new HttpError(400, 'required', 'A JSON body is required.', { type: 'validation_error' });
      const b = validateBody(verifyBodySchema, body);
      send(res, 200, verifyResponse(ledger, b.token, b.scopes, caller), { 'x-request-id': requestId });
    } catch (err) {
      const r = toResponse(err);
      if (r.internal) logger.error({ err, reqId: requestId }, 'request failed');
      send(res, r.status, r.body, { ...r.headers, 'x-request-id': requestId });
    } finally {
      env.observer.end(observed, {
        method: 'POST',
        route: VERIFY_PATH,
        status: res.statusCode,
        ip,
        url: () => loggableTarget(req.url ?? ''),
      });
    }
  };
}
