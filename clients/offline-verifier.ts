// Accept or refuse the ledger's JWT-format keys with no call to the ledger: the signature and claims are checked
// against the published JWKS, the key id (jti) against a revocation watcher, which fails closed when stale, and the
// requested scopes against the JWT's scope claim narrowed by the latest role change the watcher learned of.
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
  /** restrictionOf is optional so older watcher stand-ins still fit; without it the scope claim alone decides. */
  readonly watcher: Pick<RevocationWatcher, 'isRevoked' | 'check'> & Partial<Pick<RevocationWatcher, 'restrictionOf'>>;
  readonly clockToleranceSeconds?: number;
  /** JWKS cache lifetime (default 10 minutes); unknown kids refetch at most every 30 s. */
  readonly jwksCacheMaxAgeMs?: number;
}

export type OfflineCode =
  'VALID' | 'MALFORMED' | 'INVALID' | 'EXPIRED' | 'REVOKED' | 'STALE' | 'UNAVAILABLE' | 'INSUFFICIENT_SCOPE';

export interface OfflineResult {
  readonly valid: boolean;
  readonly code: OfflineCode;
  readonly keyId: string | null;
  readonly userId: string | null;
  readonly workspaceId: string | null;
  /**
   * The key's effective scopes: its `scope` claim (fixed at creation), narrowed to the scopes the watcher last learned
   * for it when its owner's role changed since. null when the token has no scope claim and no restriction is known.
   */
  readonly scopes: string[] | null;
  readonly expiresAt: Date | null;
}

export interface OfflineVerifier {
  verify(token: string, opts?: { scopes?: readonly string[] }): Promise<OfflineResult>;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const claimedScopes = (p: JWTPayload | null): string[] | null =>
  typeof p?.scope === 'string' ? p.scope.split(' ').filter(Boolean) : null;

function result(
  code: OfflineCode,
  p: JWTPayload | null = null,
  scopes: string[] | null = claimedScopes(p),
): OfflineResult {
  return {
    valid: code === 'VALID',
    code,
    keyId: typeof p?.jti === 'string' ? p.jti : null,
    userId: typeof p?.sub === 'string' ? p.sub : null,
    workspaceId: typeof p?.ws === 'string' ? p.ws : null,
    scopes,
    expiresAt: typeof p?.exp === 'number' ? new Date(p.exp * 1000) : null,
  };
}

export function createOfflineVerifier(o: OfflineVerifierOptions): OfflineVerifier {
  const jwks = createRemoteJWKSet(new URL(o.jwksUrl), {
    cacheMaxAge: o.jwksCacheMaxAgeMs ?? 600_000,
    cooldownDuration: 30_000,
  });
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
      const claimed = claimedScopes(payload);
      const restriction = o.watcher.restrictionOf?.(keyId) ?? null;
      // The ledger refuses what the owner's current role no longer allows, so the claim is only an upper bound.
      const scopes =
        restriction === null
          ? claimed
          : claimed === null
            ? [...restriction]
            : claimed.filter((s) => restriction.includes(s));
      if (opts.scopes && scopes !== null && !opts.scopes.every((s) => scopes.includes(s)))
        return result('INSUFFICIENT_SCOPE', payload, scopes);
      return result('VALID', payload, scopes);
    },
  };
}
