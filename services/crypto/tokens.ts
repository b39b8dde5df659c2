// Opaque token format: <prefix>_<43 base62 chars of 32 CSPRNG bytes><6 base62 chars of CRC32>, as GitHub does.
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { base62, base62Uint32, isBase62 } from './base62.js';

export const RANDOM_BYTES = 32; // 256 bits, above the 192-bit floor
export const BODY_CHARS = 43; // ceil(256 / log2(62))
export const CHECKSUM_CHARS = 6;
const PREFIX_RE = /^[a-z][a-z0-9]{0,15}$/;

export function assertPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) throw new TypeError(`token prefix must match ${PREFIX_RE.source}`);
}

export function checksum(body: string): string {
  return base62Uint32(crc32(body));
}

export function mintOpaqueToken(prefix: string, random: Uint8Array = randomBytes(RANDOM_BYTES)): string {
  assertPrefix(prefix);
  if (random.length < 24) throw new TypeError('a token needs at least 24 random bytes');
  const body = base62(random, BODY_CHARS);
  return `${prefix}_${body}${checksum(body)}`;
}

/** Shape and checksum only; no lookup. Any prefix is accepted so tokens minted under an old prefix still verify. */
export function isWellFormedOpaque(token: string): boolean {
  const sep = token.indexOf('_');
  if (sep < 1 || sep > 16) return false;
  const bodyStart = sep + 1;
  if (token.length !== bodyStart + BODY_CHARS + CHECKSUM_CHARS) return false;
  if (!isBase62(token, bodyStart, token.length)) return false;
  const body = token.slice(bodyStart, bodyStart + BODY_CHARS);
  return token.endsWith(checksum(body));
}

/** JWT compact serialization shape: three base64url segments. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) && token.length < 8192;
}

export function digestHex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Short display prefix kept in events and listings (like Unkey's `start`). */
export function displayStart(token: string, format: 'opaque' | 'jwt'): string {
  if (format === 'jwt') return `${token.slice(0, 10)}…`;
  const sep = token.indexOf('_');
  return token.slice(0, sep + 5);
}
