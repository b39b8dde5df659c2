// Builds the URL an access log may show: the path plus the decoded query, with anything credential-like replaced.
import { parse } from 'node:querystring';

const REDACTED = '[REDACTED]';

// Parameter names (compared lower-case, punctuation removed) that carry credentials: api_token, token, password, ...
const SECRET_NAME = /token|passw|pwd|secret|apikey|auth|credential|session|signature|jwt|bearer|cookie|^sig$|^key$/;

// Values shaped like a credential whatever their name: an opaque token (<prefix>_<base62 body>) or a JWT.
const SECRET_VALUE = /(?:^|[^A-Za-z0-9])[a-z][a-z0-9]{0,15}_[A-Za-z0-9]{40,}|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

export function looksLikeSecret(value: string): boolean {
  return SECRET_VALUE.test(value);
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `path?query` for a log line: the query is decoded the way the router decodes it, then re-encoded with secrets redacted. */
export function loggableUrl(path: string, querystring: string): string {
  // Most paths hold nothing encoded and nothing token-shaped: one test over the whole path settles them.
  const plain = !path.includes('%') && !looksLikeSecret(path);
  const safePath = plain
    ? path
    : path
        .split('/')
        .map((seg) => (looksLikeSecret(seg) || looksLikeSecret(decode(seg)) ? REDACTED : seg))
        .join('/');
  if (querystring === '') return safePath;
  const parts: string[] = [];
  for (const [name, raw] of Object.entries(parse(querystring))) {
    const shownName = looksLikeSecret(name) ? REDACTED : encodeURIComponent(name);
    for (const v of Array.isArray(raw) ? raw : [raw ?? '']) {
      parts.push(`${shownName}=${isSecretName(name) || looksLikeSecret(v) ? REDACTED : encodeURIComponent(v)}`);
    }
  }
  return `${safePath}?${parts.join('&')}`;
}

/** The same for a raw request target (`/path?query`), as node:http hands it over. */
export function loggableTarget(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? loggableUrl(target, '') : loggableUrl(target.slice(0, q), target.slice(q + 1));
}
