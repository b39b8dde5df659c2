// The five presentations: Bearer, Api-Key, APIToken, the API-KEY header, and ?api_token= on opt-in routes.
import type { IncomingMessage } from 'node:http';
import { parse, type ParsedUrlQuery } from 'node:querystring';
import type { Context } from 'koa';
import type { Scheme } from '../config.js';
import { HttpError, invalidToken } from './errors.js';

export interface Credential {
  readonly scheme: Scheme;
  readonly token: string;
  /** `user_id` sent next to `api_token` (seed 000); must match the key's owner when present. */
  readonly userIdHint: string | null;
}

const AUTH_SCHEMES: Record<string, Scheme> = { bearer: 'bearer', 'api-key': 'api-key', apitoken: 'apitoken' };

/** What a request offers: headers and URL parameters, independent of the web framework. */
export interface Offered {
  /** Every non-empty Authorization header line (node:http keeps only the first in `req.headers`). */
  readonly authorization: readonly string[];
  /** Every non-blank API-KEY header line, trimmed (node:http joins repeats with ", " in `req.headers`). */
  readonly apiKey: readonly string[];
  readonly urlToken: string | string[] | undefined;
  readonly userId: string | string[] | undefined;
}

/** Reads the credential headers from `rawHeaders`, where repeats survive; the query is parsed from `req.url` unless given. */
export function offeredByNode(req: IncomingMessage, query?: ParsedUrlQuery): Offered {
  const authorization: string[] = [];
  const apiKey: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      if (raw[i + 1] !== '') authorization.push(raw[i + 1]!);
    } else if (name.length === 7 && name.toLowerCase() === 'api-key') {
      const v = raw[i + 1]!.trim();
      if (v !== '') apiKey.push(v);
    }
  }
  let q = query;
  if (q === undefined) {
    const at = (req.url ?? '').indexOf('?');
    q = at < 0 ? {} : parse(req.url!.slice(at + 1));
  }
  return { authorization, apiKey, urlToken: q.api_token, userId: q.user_id };
}

export function offeredByKoa(ctx: Context): Offered {
  return offeredByNode(ctx.req, ctx.query);
}

export function ambiguous(): HttpError {
  return new HttpError(
    400,
    'ambiguous_credentials',
    'The request presents more than one credential; send exactly one: an Authorization header, an API-KEY header or an api_token parameter.',
    { type: 'client_error' },
  );
}

// JavaScript's \s, so the parse below accepts exactly what /^([A-Za-z-]+)[ \t]+(\S+)[ \t]*$/ accepted.
function isSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

const isBlank = (c: number): boolean => c === 0x20 || c === 0x09;
const isSchemeChar = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d;

/** `<scheme> <token>`: scheme letters and '-', spaces or tabs, a token without whitespace, optional trailing spaces or tabs. */
export function parseAuthorization(header: string): { name: string; token: string } | null {
  const n = header.length;
  const i = schemeEnd(header);
  let j = i;
  while (j < n && isBlank(header.charCodeAt(j))) j++;
  let k = j;
  while (k < n && !isSpace(header.charCodeAt(k))) k++;
  if (i === 0 || j === i || k === j) return null;
  for (let t = k; t < n; t++) if (!isBlank(header.charCodeAt(t))) return null;
  return { name: header.slice(0, i).toLowerCase(), token: header.slice(j, k) };
}

function schemeEnd(header: string): number {
  let i = 0;
  while (i < header.length && isSchemeChar(header.charCodeAt(i))) i++;
  return i;
}

const known = (name: string): Scheme | undefined =>
  Object.hasOwn(AUTH_SCHEMES, name) ? AUTH_SCHEMES[name] : undefined;

/**
 * The scheme and token of an Authorization header. `Bearer <scheme> <token>` is read as `<scheme> <token>`: it is what
 * Swagger UI's Bearer field and http-bearer clients send for a value typed with its scheme, as seed 004 tells people to
 * type it ("write Bearer in front of the token"); refusing it would turn a good token into a puzzling 401.
 */
function presented(header: string): { scheme: Scheme; token: string } | null {
  const parsed = parseAuthorization(header);
  if (parsed !== null) {
    const scheme = known(parsed.name);
    return scheme === undefined ? null : { scheme, token: parsed.token };
  }
  const end = schemeEnd(header);
  if (header.slice(0, end).toLowerCase() !== 'bearer') return null;
  let rest = end;
  while (rest < header.length && isBlank(header.charCodeAt(rest))) rest++;
  if (rest === end) return null;
  const inner = parseAuthorization(header.slice(rest));
  const scheme = inner === null ? undefined : known(inner.name);
  return scheme === undefined ? null : { scheme, token: inner!.token };
}

/** Finds the credential of a request; null when none was sent. Throws 400 for several, 401 for a refused presentation. */
export function extractCredential(o: Offered, allowUrl: boolean, enabled: ReadonlySet<Scheme>): Credential | null {
  const urlToken = o.urlToken;
  const urlCount = urlToken === undefined ? 0 : typeof urlToken === 'string' ? 1 : urlToken.length;
  // Serving the first of two credentials would act for a caller the client may not have meant; refuse rather than guess.
  if (o.authorization.length + o.apiKey.length + urlCount > 1) throw ambiguous();
  if (urlToken !== undefined && !allowUrl) throw invalidToken(); // URL tokens leak into logs; only exports and feeds take them
  const header = o.authorization[0];
  const apiKey = o.apiKey[0];
  let cred: Credential | null = null;
  if (header !== undefined) {
    const p = presented(header);
    if (p === null) throw invalidToken();
    cred = { scheme: p.scheme, token: p.token, userIdHint: null };
  } else if (apiKey !== undefined) {
    cred = { scheme: 'api-key-header', token: apiKey, userIdHint: null };
  } else if (urlToken !== undefined) {
    if (typeof urlToken !== 'string') throw invalidToken();
    const uid = o.userId;
    cred = { scheme: 'url', token: urlToken, userIdHint: typeof uid === 'string' ? uid : null };
  }
  if (cred !== null && !enabled.has(cred.scheme)) throw invalidToken();
  return cred;
}
