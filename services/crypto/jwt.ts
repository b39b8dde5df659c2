// JWT-format keys and login sessions: EdDSA only, typ/iss/aud/exp checked on every verification.
import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import type { SigningKey } from './key-material.js';

export const KEY_TYP = 'key+jwt';
export const SESSION_TYP = 'session+jwt';
export const ALG = 'EdDSA';

export interface JwtSettings {
  readonly issuer: string;
  readonly audience: string;
}

export interface KeyClaims {
  keyId: string;
  userId: string;
  workspaceId: string;
  /**
   * The key's effective scopes when it is created, always stated as `scope` (space-separated, possibly empty):
   * a scoped key's scopes its owner's role allows; an unscoped key's, the owner's role permissions.
   */
  scopes: readonly string[];
  issuedAt: Date;
  expiresAt: Date | null;
}

export interface SessionClaims extends JWTPayload {
  sub: string;
  sid: string;
  iat: number;
  exp: number;
}

export type SessionCheck = { ok: true; claims: SessionClaims } | { ok: false; code: 'EXPIRED' | 'INVALID' };

export class JwtService {
  constructor(
    private readonly key: SigningKey,
    readonly settings: JwtSettings,
  ) {}

  get kid(): string {
    return this.key.kid;
  }

  signKey(c: KeyClaims): Promise<string> {
    const jwt = new SignJWT({ scope: c.scopes.join(' '), ws: c.workspaceId })
      .setProtectedHeader({ alg: ALG, typ: KEY_TYP, kid: this.key.kid })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setSubject(c.userId)
      .setJti(c.keyId)
      .setIssuedAt(Math.floor(c.issuedAt.getTime() / 1000));
    if (c.expiresAt !== null) jwt.setExpirationTime(Math.floor(c.expiresAt.getTime() / 1000));
    return jwt.sign(this.key.privateKey);
  }

  signSession(userId: string, sessionId: string, issuedAt: Date, expiresAt: Date): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: ALG, typ: SESSION_TYP, kid: this.key.kid })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setSubject(userId)
      .setJti(sessionId)
      .setIssuedAt(Math.floor(issuedAt.getTime() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.key.privateKey);
  }

  /** Verifies a session JWT; an invalid token is a result, not an exception. */
  async verifySession(token: string, now: Date): Promise<SessionCheck> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [ALG],
        typ: SESSION_TYP,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        requiredClaims: ['exp', 'sub', 'jti', 'iat'],
        currentDate: now,
      });
      return { ok: true, claims: { ...payload, sid: payload.jti! } as SessionClaims };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { ok: false, code: 'EXPIRED' };
      if (err instanceof joseErrors.JOSEError) return { ok: false, code: 'INVALID' };
      throw err;
    }
  }
}
