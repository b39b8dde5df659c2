// OAuth client authentication on /oauth/ (RFC 6749 §2.3.1): a key is a client, its id the client id, its token the secret.
import type { Context } from 'koa';
import { keyActor } from '../access.js';
import type { AppContext } from './context.js';
import { authenticate, type Caller, type ClientAuthMethod } from './auth.js';
import { ambiguous, extractCredential, offeredByKoa, parseAuthorization } from './credentials.js';
import { HttpError } from './errors.js';

/** What the form may carry for client authentication (RFC 6749 §2.3.1, RFC 7009 §2.1). */
export interface ClientFields {
  readonly client_id?: string | undefined;
  readonly client_secret?: string | undefined;
}

/** 401 invalid_client (the OAuth error mapping adds the Basic challenge); one body whatever the reason. */
export function invalidClient(detail = 'Client authentication failed.'): HttpError {
  return new HttpError(401, 'invalid_client', detail);
}

const invalidRequest = (detail: string): HttpError =>
  new HttpError(400, 'invalid_request', detail, { type: 'validation_error' });

/** application/x-www-form-urlencoded decoding, which RFC 6749 §2.3.1 applies to both halves of Basic credentials. */
function formDecode(s: string): string | null {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

/** The client id and secret of a Basic header's token, or null when it is not base64 of `id:secret`. */
export function basicClient(b64: string): { id: string; secret: string } | null {
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return null;
  const pair = Buffer.from(b64, 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  if (colon <= 0) return null;
  const id = formDecode(pair.slice(0, colon));
  const secret = formDecode(pair.slice(colon + 1));
  return id && secret ? { id, secret } : null;
}

function asClient(
  env: AppContext,
  id: string,
  secret: string,
  method: ClientAuthMethod,
  req: { ip: string; userAgent: string | null },
): Caller {
  const { ledger } = env.deps;
  const now = ledger.now();
  const r = ledger.verify(secret, { now });
  // A valid token with another key's id is no better than a wrong secret: same refusal, and no use recorded.
  const key = r.valid && r.key !== null && r.key.id === id ? r.key : null;
  env.httpMetrics.authentication(method, key === null ? 'invalid' : 'valid');
  if (key === null) throw invalidClient();
  ledger.recordUse(key, 'direct', now, req.ip, req.userAgent);
  return {
    kind: 'api_key',
    user: key.owner,
    scheme: method,
    key,
    sessionId: null,
    sessionExpiresAt: null,
    actor: keyActor(key),
  };
}

/**
 * The OAuth client calling: Basic, client_id and client_secret in the form, or any credential other routes take. One
 * method per request (RFC 6749 §2.3). Null for a public client (client_id alone, or nothing) where `publicClients`.
 */
export async function oauthCaller(
  env: AppContext,
  ctx: Context,
  form: ClientFields,
  req: { ip: string; userAgent: string | null },
  publicClients: boolean,
): Promise<Caller | null> {
  const offered = offeredByKoa(ctx);
  const urlToken = offered.urlToken;
  const headers = offered.authorization.length + offered.apiKey.length;
  const urls = urlToken === undefined ? 0 : typeof urlToken === 'string' ? 1 : urlToken.length;
  const posted = form.client_secret !== undefined;
  if (headers + urls + (posted ? 1 : 0) > 1) throw ambiguous();
  const header = offered.authorization[0];
  const parsed = header === undefined ? null : parseAuthorization(header);
  if (parsed?.name === 'basic') {
    const c = basicClient(parsed.token);
    if (c === null) throw invalidClient('The Basic credentials are not base64 of client_id:client_secret.');
    if (form.client_id !== undefined && form.client_id !== c.id)
      throw invalidRequest('client_id in the body differs from the client id in the Authorization header.');
    return asClient(env, c.id, c.secret, 'client_secret_basic', req);
  }
  if (posted) {
    if (form.client_id === undefined) throw invalidRequest('client_secret needs client_id.');
    return asClient(env, form.client_id, form.client_secret, 'client_secret_post', req);
  }
  const cred = extractCredential(offered, false, env.deps.config.authSchemes);
  if (cred === null) {
    if (publicClients) return null;
    throw invalidClient('Client authentication is required: HTTP Basic, client_id and client_secret, or a token.');
  }
  const caller = await authenticate(env.deps.ledger, cred, req, env.httpMetrics);
  if (form.client_id !== undefined && form.client_id !== caller.key?.id)
    throw invalidRequest('client_id does not name the key that authenticates the request.');
  return caller;
}
