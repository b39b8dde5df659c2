import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { JwtService } from '../../services/crypto/jwt.js';
import { loadSigningKey } from '../../services/crypto/key-material.js';
import { verifyPassword, hashPassword } from '../../services/crypto/passwords.js';
import { tempDir } from '../support/tmp.js';

describe('session JWTs', () => {
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const now = new Date('2026-05-01T00:00:00Z');
  const inAMinute = new Date(now.getTime() + 60_000);
  let jwt: JwtService;
  let key: Awaited<ReturnType<typeof loadSigningKey>>;
  before(async () => {
    const dir = tempDir('jwt');
    key = await loadSigningKey(dir.path, pem);
    jwt = new JwtService(key, { issuer: 'iss', audience: 'aud' });
    dir.cleanup();
  });

  it('accepts our own session', async () => {
    const t = await jwt.signSession('usr_1', 'ses_1', now, inAMinute);
    const r = await jwt.verifySession(t, now);
    expect(r.ok && r.claims.sub).to.equal('usr_1');
  });
  it('reports an expired session as EXPIRED', async () => {
    const t = await jwt.signSession('usr_1', 'ses_1', now, inAMinute);
    expect(await jwt.verifySession(t, new Date(inAMinute.getTime() + 1000))).to.deep.equal({
      ok: false,
      code: 'EXPIRED',
    });
  });
  it('refuses a JWT-format key presented as a session (typ)', async () => {
    const t = await jwt.signKey({
      keyId: 'key_1',
      userId: 'usr_1',
      workspaceId: 'ws_1',
      scopes: [],
      issuedAt: now,
      expiresAt: inAMinute,
    });
    expect((await jwt.verifySession(t, now)).ok).to.equal(false);
  });
  it('always states the scope claim, space-separated, even when empty', async () => {
    const claims = async (scopes: string[]) => {
      const t = await jwt.signKey({
        keyId: 'key_1',
        userId: 'usr_1',
        workspaceId: 'ws_1',
        scopes,
        issuedAt: now,
        expiresAt: null,
      });
      return JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    };
    expect(await claims(['data:read', 'keys:read'])).to.include({
      scope: 'data:read keys:read',
      jti: 'key_1',
      sub: 'usr_1',
    });
    expect(await claims([])).to.have.property('scope', '');
  });
  it('refuses another issuer or audience', async () => {
    const other = new JwtService(key, { issuer: 'evil', audience: 'aud' });
    expect((await jwt.verifySession(await other.signSession('usr_1', 's', now, inAMinute), now)).ok).to.equal(false);
    const otherAud = new JwtService(key, { issuer: 'iss', audience: 'elsewhere' });
    expect((await jwt.verifySession(await otherAud.signSession('usr_1', 's', now, inAMinute), now)).ok).to.equal(false);
  });
  it('refuses alg=none and HS256 tokens', async () => {
    const none = new UnsecuredJWT({ sid: 's' })
      .setSubject('usr_1')
      .setIssuer('iss')
      .setAudience('aud')
      .setJti('s')
      .setIssuedAt()
      .setExpirationTime('1h')
      .encode();
    expect((await jwt.verifySession(none, new Date())).ok).to.equal(false);
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'session+jwt' })
      .setSubject('usr_1')
      .setIssuer('iss')
      .setAudience('aud')
      .setJti('s')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new Uint8Array(32));
    expect((await jwt.verifySession(hs, new Date())).ok).to.equal(false);
  });
  it('refuses a session signed by another key', async () => {
    const dir = tempDir('jwt2');
    const stranger = new JwtService(await loadSigningKey(dir.path), { issuer: 'iss', audience: 'aud' });
    dir.cleanup();
    expect((await jwt.verifySession(await stranger.signSession('usr_1', 's', now, inAMinute), now)).ok).to.equal(false);
  });
});

describe('passwords', () => {
  it('are argon2id at OWASP parameters (m=19456, t=2, p=1) or stronger', async () => {
    const h = await hashPassword('correct horse battery staple');
    expect(h).to.match(/^\$argon2id\$v=19\$/);
    const m = /m=(\d+)/.exec(h)![1];
    const t = /t=(\d+)/.exec(h)![1];
    expect(Number(m)).to.be.at.least(19456);
    expect(Number(t)).to.be.at.least(2);
    expect(await verifyPassword(h, 'correct horse battery staple')).to.equal(true);
    expect(await verifyPassword(h, 'wrong')).to.equal(false);
  });
  it('do the same work for an unknown user as for a wrong password', async () => {
    const h = await hashPassword('correct horse battery staple');
    await verifyPassword(null, 'warm-up');
    const time = async (f: () => Promise<unknown>) => {
      const t = process.hrtime.bigint();
      await f();
      return Number(process.hrtime.bigint() - t);
    };
    let known = 0;
    let unknown = 0;
    for (let i = 0; i < 3; i++) {
      known += await time(() => verifyPassword(h, 'wrong password'));
      unknown += await time(() => verifyPassword(null, 'wrong password'));
    }
    // Same argon2 work, so the same order of magnitude; a skipped hash would be ~1000× faster.
    expect(unknown / known).to.be.within(0.2, 5);
  });
});
