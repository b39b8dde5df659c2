// AES-256-GCM sealing of retrievable tokens under the master key; only ciphertext enters events.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { SealedSecret } from '../../events/catalog.js';
import { SecretError } from '../domain/errors.js';

export class Sealer {
  readonly kid: string;
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new TypeError('master key must be 32 bytes');
    this.kid = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  seal(plaintext: string, aad: string): SealedSecret {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return {
      alg: 'A256GCM',
      kid: this.kid,
      iv: iv.toString('base64url'),
      ct: ct.toString('base64url'),
      tag: c.getAuthTag().toString('base64url'),
    };
  }

  open(sealed: SealedSecret, aad: string): string {
    if (sealed.kid !== this.kid) {
      throw new SecretError('MASTER_KEY_MISMATCH', 'secret was sealed under a different master key', {
        fields: { kid: sealed.kid },
      });
    }
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(sealed.iv, 'base64url'));
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(sealed.ct, 'base64url')), d.final()]).toString('utf8');
    } catch (err) {
      throw new SecretError('SEALED_SECRET_CORRUPT', 'sealed secret failed authentication', { cause: err });
    }
  }
}
