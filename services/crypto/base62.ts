// Fixed-width base62 so every token of a prefix has the same length.
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function base62(bytes: Uint8Array, width: number): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return base62Int(n, width);
}

export function base62Int(value: bigint | number, width: number): string {
  let n = BigInt(value);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)]! + out;
    n /= 62n;
  }
  if (out.length > width) throw new TypeError(`value does not fit in ${width} base62 chars`);
  return out.padStart(width, '0');
}

/** Encodes a 32-bit unsigned integer in 6 base62 chars without BigInt (verify hot path). */
export function base62Uint32(value: number): string {
  let n = value >>> 0;
  let s = '';
  for (let i = 0; i < 6; i++) {
    s = ALPHABET[n % 62]! + s;
    n = Math.floor(n / 62);
  }
  return s;
}

export function isBase62(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return false;
  }
  return true;
}
