// Accept or refuse the ledger's JWT-format keys with no call to the ledger: the signature and claims are checked
// against the published JWKS, and the key id (jti) against a revocation watcher, which fails closed when stale.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { RevocationWatcher } from './revocation-watcher.js';

export const KEY_JWT_TYP = 'key+jwt';

export interface OfflineVerifierOptions {
  /** e.g. https://ledger.example.com/.well-known/jwks.json */
  readonly jwksUrl: string;
  /** The ledger's LEDGER_JWT_ISSUER (default token-ledger). */
  readonly issuer: string;
  /** The ledger's LEDGER_JWT_AUDIENCE (default token-ledger-api). */
  readonly audience: string;
  readonly watcher: Pick<RevocationWatcher, 'isRevoked' | 'check'>;
  readonly clockToleranceSeconds?: number;
  /** JWKS cache lifetime (default 10 minutes); unknown kids refetch at most every 30 s. */
  readonly jwksCacheMaxAgeMs?: number;
}

export type OfflineCode = 'VALID' | 'MALFORMED' | 'INVALID' | 'EXPIRED' | 'REVOKED' | 'STALE' | 'UNAVAILABLE' | 'INSUFFICIENT_SCOPE';

export interface OfflineResult {
  readonly valid: boolean;
  readonly code: OfflineCode;
  readonly keyId: string | null;
  readonly userId: string | null;
  readonly workspaceId: string | null;
  /** The key's own scopes; null for an unscoped key (its owner's role decides, which only the ledger knows). */
  readonly scopes: string[] | null;
  readonly expiresAt: Date | null;
}

export interface OfflineVerifier {
  verify(token: string, opts?: { scopes?: readonly string[] }): Promise<OfflineResult>;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function result(code: OfflineCode, p: JWTPayload | null = null): OfflineResult {
  const scope = typeof p?.scope === 'string' ? p.scope.split(' ').filter(Boolean) : null;
  return {
    valid: code === 'VALID',
    code,
    keyId: typeof p?.jti === 'string' ? p.jti : null,
    userId: typeof p?.sub === 'string' ? p.sub : null,
    workspaceId: typeof p?.ws === 'string' ? p.ws : null,
    scopes: scope,
    expiresAt: typeof p?.exp === 'number' ? new Date(p.exp * 1000) : null,
  };
}

export function createOfflineVerifier(o: OfflineVerifierOptions): OfflineVerifier {
  const jwks = createRemoteJWKSet(new URL(o.jwksUrl), { cacheMaxAge: o.jwksCacheMaxAgeMs ?? 600_000, cooldownDuration: 30_000 });
  return {
    async verify(token, opts = {}) {
      if (typeof token !== 'string' || token.length > 8192 || !JWT_SHAPE.test(token)) return result('MALFORMED');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          algorithms: ['EdDSA'],
          typ: KEY_JWT_TYP,
          issuer: o.issuer,
          audience: o.audience,
          requiredClaims: ['jti', 'sub', 'iat'],
          clockTolerance: o.clockToleranceSeconds ?? 0,
        }));
      } catch (err) {
        if (err instanceof errors.JWTExpired) return result('EXPIRED', err.payload);
        if (err instanceof errors.JOSEError) return result('INVALID');
        return result('UNAVAILABLE'); // the JWKS could not be fetched: refuse, but say it is not the token's fault
      }
      const keyId = payload.jti!;
      // Fail closed: a watcher that cannot vouch for its set refuses every key.
      if (o.watcher.check().stale) return result('STALE', payload);
      if (o.watcher.isRevoked(keyId)) return result('REVOKED', payload);
      const r = result('VALID', payload);
      if (opts.scopes && r.scopes !== null && !opts.scopes.every((s) => r.scopes!.includes(s))) return result('INSUFFICIENT_SCOPE', payload);
      return r;
    },
  };
}
