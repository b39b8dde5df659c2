// Opaque token format: <prefix>_<43 base62 chars of 32 CSPRNG bytes><6 base62 chars of CRC32>, as GitHub does.
import { hash, randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const RANDOM_BYTES = 32; // 256 bits, above the 192-bit floor
export const BODY_CHARS = 43; // ceil(256 / log2(62))
export const CHECKSUM_CHARS = 6;
const PREFIX_RE = /^[a-z][a-z0-9]{0,15}$/;
/** The base62 digits in value order, as tokens, ids and checksums use them. */
export const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function assertPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) throw new TypeError(`token prefix must match ${PREFIX_RE.source}`);
}

// CRC-32 (IEEE, as zlib) over char codes: equal to zlib's crc32 of the UTF-8 bytes for ASCII input,
// which is all a base62 body can hold. Computed in JS so the verify path needs no native call or allocation.
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32Ascii(s: string, from: number, to: number): number {
  let c = -1;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** 6 base62 chars of a 32-bit value, most significant first (fixed width). */
function base62Checksum(value: number): string {
  let n = value >>> 0;
  let s = '';
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    s = ALPHABET[n % 62]! + s;
    n = Math.floor(n / 62);
  }
  return s;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

export function checksum(body: string): string {
  return base62Checksum(isAscii(body) ? crc32Ascii(body, 0, body.length) : crc32(body));
}

/** Fixed-width base62 of a big-endian byte string, by long division on 16-bit limbs (no BigInt). */
function base62Fixed(bytes: Uint8Array, width: number): string {
  const limbs = new Array<number>(Math.ceil(bytes.length / 2));
  const skew = bytes.length % 2;
  for (let i = 0, j = 0; i < limbs.length; i++) {
    if (i === 0 && skew === 1) limbs[i] = bytes[j++]!;
    else {
      limbs[i] = (bytes[j]! << 8) | bytes[j + 1]!;
      j += 2;
    }
  }
  const out = new Array<string>(width);
  let first = 0;
  for (let w = width - 1; w >= 0; w--) {
    let rem = 0;
    for (let i = first; i < limbs.length; i++) {
      const cur = rem * 65536 + limbs[i]!;
      limbs[i] = Math.floor(cur / 62);
      rem = cur % 62;
    }
    while (first < limbs.length && limbs[first] === 0) first++;
    out[w] = ALPHABET[rem]!;
  }
  if (first < limbs.length) throw new TypeError(`value does not fit in ${width} base62 chars`);
  return out.join('');
}

// CSPRNG bytes drawn in blocks (one native call per 64 tokens, as randomUUID does); each slice is wiped once used.
const POOL = Buffer.alloc(RANDOM_BYTES * 64);
let poolAt = POOL.length;
function freshRandom(): Uint8Array {
  if (poolAt + RANDOM_BYTES > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const out = Uint8Array.from(POOL.subarray(poolAt, poolAt + RANDOM_BYTES));
  POOL.fill(0, poolAt, poolAt + RANDOM_BYTES);
  poolAt += RANDOM_BYTES;
  return out;
}

/** `bytes` fresh CSPRNG bytes as fixed-width base62 (ids; tokens use 32 bytes). */
export function randomBase62(bytes: number, width: number): string {
  if (bytes > RANDOM_BYTES) throw new TypeError(`at most ${RANDOM_BYTES} random bytes`);
  return base62Fixed(freshRandom().subarray(0, bytes), width);
}

export function mintOpaqueToken(prefix: string, random: Uint8Array = freshRandom()): string {
  assertPrefix(prefix);
  if (random.length < 24) throw new TypeError('a token needs at least 24 random bytes');
  const body = base62Fixed(random, BODY_CHARS);
  return `${prefix}_${body}${checksum(body)}`;
}

// Base62 digit values by char code (-1: not base62), so the shape check is one table read per char.
const DIGIT = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

/** Shape and checksum only; no lookup. Any prefix is accepted so tokens minted under an old prefix still verify. */
export function isWellFormedOpaque(token: string): boolean {
  const sep = token.indexOf('_');
  if (sep < 1 || sep > 16) return false;
  const bodyStart = sep + 1;
  const sumStart = bodyStart + BODY_CHARS;
  const len = token.length;
  if (len !== sumStart + CHECKSUM_CHARS) return false;
  // One pass over the body: validate each char and fold it into the CRC.
  let c = -1;
  for (let i = bodyStart; i < sumStart; i++) {
    const ch = token.charCodeAt(i);
    if (ch > 127 || DIGIT[ch]! < 0) return false;
    c = CRC_TABLE[(c ^ ch) & 0xff]! ^ (c >>> 8);
  }
  // The checksum digits, most significant first, must spell the CRC exactly.
  let n = 0;
  for (let i = sumStart; i < len; i++) {
    const ch = token.charCodeAt(i);
    const v = ch > 127 ? -1 : DIGIT[ch]!;
    if (v < 0) return false;
    n = n * 62 + v;
  }
  return n === (c ^ -1) >>> 0;
}

/** JWT compact serialization shape: three base64url segments. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) && token.length < 8192;
}

export function digestHex(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Short display prefix kept in events and listings (like Unkey's `start`). */
export function displayStart(token: string, format: 'opaque' | 'jwt'): string {
  if (format === 'jwt') return `${token.slice(0, 10)}…`;
  const sep = token.indexOf('_');
  return token.slice(0, sep + 5);
}
