// Type-prefixed ids and event ids; the one place the service draws randomness for identifiers.
import { randomBytes, randomUUID } from 'node:crypto';
import { base62 } from './crypto/base62.js';

export interface IdGenerator {
  uuid(): string;
  id(prefix: 'usr' | 'ws' | 'key' | 'ses' | 'req'): string;
}

export const randomIds: IdGenerator = {
  uuid: () => randomUUID(),
  id: (prefix) => `${prefix}_${base62(randomBytes(16), 22)}`,
};
