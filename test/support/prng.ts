import { ALPHABET } from '../../services/crypto/tokens.js';

/** mulberry32: a small seeded PRNG, so a randomized history is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A type-prefixed id shaped as the ledger makes them (`key_` + 22 base62 characters), drawn from a seeded PRNG. */
export function idOf(rnd: () => number, prefix: string): string {
  let s = `${prefix}_`;
  for (let i = 0; i < 22; i++) s += ALPHABET[Math.floor(rnd() * 62)]!;
  return s;
}
