// Builds the URL an access log may show: the path plus the decoded query, with anything credential-like replaced.
import { parse } from 'node:querystring';

const REDACTED = '[REDACTED]';

// Parameter names (compared lower-case, punctuation removed) that carry credentials: api_token, token, password, ...
const SECRET_NAME = /token|passw|pwd|secret|apikey|auth|credential|session|signature|jwt|bearer|cookie|^sig$|^key$/;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

// Hand-written scanners, linear in the input: the equivalent regex backtracked quadratically on long [A-Za-z0-9] runs in a request path.
const DOT = 0x2e;
const UNDERSCORE = 0x5f;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlnum = (c: number): boolean => isLower(c) || isDigit(c) || (c >= 0x41 && c <= 0x5a);
const isJwtChar = (c: number): boolean => isAlnum(c) || c === UNDERSCORE || c === 0x2d;

/** `[a-z][a-z0-9]{0,15}_[A-Za-z0-9]{40,}` starting at the beginning or after a character outside [A-Za-z0-9]. */
function hasOpaqueToken(s: string): boolean {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (!isLower(s.charCodeAt(i)) || (i > 0 && isAlnum(s.charCodeAt(i - 1)))) continue;
    // '_' is outside [a-z0-9], so the prefix ends at the first character that is not [a-z0-9]: at most 16 steps.
    let j = i + 1;
    while (j < n && j - i < 16 && (isLower(s.charCodeAt(j)) || isDigit(s.charCodeAt(j)))) j++;
    if (j >= n || s.charCodeAt(j) !== UNDERSCORE) continue;
    // The body needs 40 characters only: stopping there bounds each start's work.
    let k = j + 1;
    while (k < n && k - j <= 40 && isAlnum(s.charCodeAt(k))) k++;
    if (k - j > 40) return true;
  }
  return false;
}

/** `[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}` anywhere: three maximal runs joined by single dots, each 8 long or more. */
function hasJwt(s: string): boolean {
  // Lengths of the two runs before the current one when each was followed by a dot; -1 once the chain breaks.
  let first = -1;
  let second = -1;
  let run = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : -1;
    if (isJwtChar(c)) {
      run++;
      continue;
    }
    if (first >= 8 && second >= 8 && run >= 8) return true;
    if (c === DOT) {
      first = second;
      second = run;
    } else {
      first = -1;
      second = -1;
    }
    run = 0;
  }
  return false;
}

/** Values shaped like a credential whatever their name: an opaque token (<prefix>_<base62 body>) or a JWT. */
export function looksLikeSecret(value: string): boolean {
  return hasOpaqueToken(value) || hasJwt(value);
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
