// Type-prefixed ids and event ids; the one place the service draws randomness for identifiers.
import { randomUUID } from 'node:crypto';
import { randomBase62 } from './crypto/tokens.js';

export interface IdGenerator {
  uuid(): string;
  id(prefix: 'usr' | 'ws' | 'key' | 'ses' | 'req' | 'inv'): string;
}

export const randomIds: IdGenerator = {
  uuid: () => randomUUID(),
  // 128 random bits in 22 base62 chars, from the same pooled CSPRNG as tokens.
  id: (prefix) => `${prefix}_${randomBase62(16, 22)}`,
};
