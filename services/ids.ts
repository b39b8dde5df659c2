// Type-prefixed ids and event ids; the one place the service draws randomness for identifiers.
import { randomFillSync } from 'node:crypto';
import { randomBase62 } from './crypto/tokens.js';

export interface IdGenerator {
  uuid(): string;
  id(prefix: 'usr' | 'ws' | 'key' | 'ses' | 'req' | 'inv'): string;
}

// Random bytes for UUIDs, drawn 256 ids at a time (as node's randomUUID does).
const POOL = Buffer.alloc(16 * 256);
let poolAt = POOL.length;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * An RFC 9562 UUIDv7: 48 bits of Unix time in ms, then 74 random bits. Ids made later sort later, so the store's
 * event-id index grows at its end instead of at a random page per event (far fewer pages written per commit).
 */
export function uuidV7(nowMs: number = Date.now()): string {
  if (poolAt === POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const b = POOL.subarray(poolAt, (poolAt += 16));
  let t = nowMs;
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  let s = '';
  for (let i = 0; i < 16; i++) s += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + HEX[b[i]!]!;
  return s;
}

export const randomIds: IdGenerator = {
  uuid: () => uuidV7(),
  // 128 random bits in 22 base62 chars, from the same pooled CSPRNG as tokens.
  id: (prefix) => `${prefix}_${randomBase62(16, 22)}`,
};
