// Sessions end on logout, deactivation and password change; RFC 7662 introspection and RFC 7009 revocation.
import { expect } from 'chai';
import { checkedFetch } from '../support/contract.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('e2e: sessions, introspection and revocation', () => {
  let s: TestServer;
  let admin: string;
  beforeEach(async () => {
    s = await startTestServer();
    admin = await s.login();
  });
  afterEach(async () => s.dispose());

  async function member(
    email = 'm@example.com',
  ): Promise<{ id: string; session: string; key: { id: string; token: string } }> {
    const u = await s.request('POST', '/v1/users', {
      token: admin,
      body: { email, name: 'M', password: 'long enough password' },
    });
    const session = await s.login(email, 'long enough password');
    const key = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'k' } })).body;
    return { id: u.body.id, session, key };
  }

  it('logout ends only that session', async () => {
    const other = await s.login();
    expect((await s.request('POST', '/v1/auth/logout', { token: admin })).status).to.equal(204);
    expect((await s.request('GET', '/v1/auth/me', { token: admin })).status).to.equal(401);
    expect((await s.request('GET', '/v1/auth/me', { token: other })).status).to.equal(200);
  });

  it("deactivation ends the user's sessions and stops their keys at once; reactivation restores the keys", async () => {
    const m = await member();
    expect(
      (await s.request('POST', `/v1/users/${m.id}/deactivate`, { token: admin, body: { reason: 'left' } })).status,
    ).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: m.session })).status).to.equal(401);
    expect((await s.request('GET', '/v1/auth/me', { token: m.key.token })).status).to.equal(401);
    expect(
      (
        await s.request('POST', '/v1/auth/login', {
          body: { email: 'm@example.com', password: 'long enough password' },
        })
      ).status,
    ).to.equal(401);
    expect((await s.request('POST', `/v1/users/${m.id}/reactivate`, { token: admin })).status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: m.key.token })).status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: m.session })).status).to.equal(401); // sessions stay ended
  });

  it('a password change needs the current password and ends older sessions', async () => {
    const m = await member();
    const wrong = await s.request('PUT', '/v1/users/me/password', {
      token: m.session,
      body: { currentPassword: 'nope nope nope', newPassword: 'brand new long password' },
    });
    expect(wrong.status).to.equal(400);
    const ok = await s.request('PUT', '/v1/users/me/password', {
      token: m.session,
      body: { currentPassword: 'long enough password', newPassword: 'brand new long password' },
    });
    expect(ok.status).to.equal(204);
    expect((await s.request('GET', '/v1/auth/me', { token: m.session })).status).to.equal(401);
    expect(
      (
        await s.request('POST', '/v1/auth/login', {
          body: { email: 'm@example.com', password: 'brand new long password' },
        })
      ).status,
    ).to.equal(200);
  });

  it("revoking all of a user's keys", async () => {
    const m = await member();
    await s.request('POST', '/v1/keys', { token: m.session, body: { name: 'second' } });
    const r = await s.request('POST', `/v1/users/${m.id}/keys/revoke`, {
      token: admin,
      body: { reason: 'offboarding' },
    });
    expect(r.body.revoked).to.equal(2);
    expect((await s.request('GET', '/v1/auth/me', { token: m.key.token })).status).to.equal(401);
  });

  it('RFC 7662: an active key shows its claims, an inactive token only {"active":false}', async () => {
    const m = await member();
    const form = await checkedFetch(`${s.url}/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: m.key.token }).toString(),
    });
    const active = (await form.json()) as Record<string, unknown>;
    expect(active).to.include({ active: true, token_type: 'api_key', sub: m.id, jti: m.key.id });
    const session = await s.request('POST', '/oauth/introspect', { token: admin, body: { token: m.session } });
    expect(session.body).to.include({ active: true, token_type: 'session', sub: m.id });
    await s.request('DELETE', `/v1/keys/${m.key.id}`, { token: m.session });
    const inactive = await s.request('POST', '/oauth/introspect', { token: admin, body: { token: m.key.token } });
    expect(inactive.body).to.deep.equal({ active: false });
    expect(
      (await s.request('POST', '/oauth/introspect', { token: admin, body: { token: 'garbage' } })).body,
    ).to.deep.equal({ active: false });
    const anonymous = await s.request('POST', '/oauth/introspect', { body: { token: m.session } });
    expect(anonymous.status).to.equal(401);
    expect(anonymous.body.error).to.equal('invalid_client');
  });

  it('RFC 7009: whoever holds a token may revoke it; unknown tokens still get 200', async () => {
    const m = await member();
    const r = await checkedFetch(`${s.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${m.key.token}`,
    });
    expect(r.status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: m.key.token })).status).to.equal(401);
    const key = await s.request('GET', `/v1/keys/${m.key.id}`, { token: m.session });
    expect(key.body.status).to.equal('revoked');
    expect((await s.request('POST', '/oauth/revoke', { body: { token: 'tl_unknown' } })).status).to.equal(200);
    expect((await s.request('POST', '/oauth/revoke', { body: { token: m.session } })).status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: m.session })).status).to.equal(401);
  });

  it('RFC 7009/7662: Basic client credentials must be a key id and its token; a URL token is refused', async () => {
    const m = await member();
    const unknown = `Basic ${Buffer.from('client:secret').toString('base64')}`;
    for (const path of ['/oauth/revoke', '/oauth/introspect']) {
      const r = await s.request('POST', path, { headers: { authorization: unknown }, body: { token: m.key.token } });
      expect(r.status, path).to.equal(401);
      expect(r.body.error, path).to.equal('invalid_client');
      expect(r.headers.get('www-authenticate'), path).to.match(/^Basic realm=/);
    }
    expect((await s.request('GET', '/v1/auth/me', { token: m.key.token })).status).to.equal(200);
    const own = `Basic ${Buffer.from(`${m.key.id}:${m.key.token}`).toString('base64')}`;
    const revoke = await checkedFetch(`${s.url}/oauth/revoke`, {
      method: 'POST',
      headers: { authorization: own, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${m.key.token}`,
    });
    expect(revoke.status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: m.key.token })).status).to.equal(401);
    // A token in the URL is refused even on open routes that did not opt in.
    const url = await s.request('POST', `/oauth/revoke?api_token=${encodeURIComponent(m.session)}`, {
      body: { token: 'tl_unknown' },
    });
    expect(url.status).to.equal(401);
    expect(url.body.error).to.equal('invalid_client');
    const healthz = await s.request('GET', `/healthz?api_token=x`);
    expect(healthz.status).to.equal(401);
    expect(healthz.body.errors[0].code).to.equal('invalid_token');
  });

  it('a zero grace period ("0s", "0h", 0) retires the old key at once; a zero expiresIn is still refused', async () => {
    for (const gracePeriod of ['0s', '0h', 0, '0']) {
      const created = (await s.request('POST', '/v1/keys', { token: admin, body: { name: 'zero' } })).body;
      const rotated = await s.request('POST', `/v1/keys/${created.id}/rotate`, { token: admin, body: { gracePeriod } });
      expect(rotated.status, `${JSON.stringify(gracePeriod)}: ${rotated.text}`).to.equal(201);
      expect((await s.request('GET', '/v1/auth/me', { token: created.token })).status).to.equal(401);
      expect((await s.request('GET', '/v1/auth/me', { token: rotated.body.token })).status).to.equal(200);
    }
    for (const expiresIn of ['0s', '0h', 0]) {
      const r = await s.request('POST', '/v1/keys', { token: admin, body: { name: 'never', expiresIn } });
      expect(r.status, JSON.stringify(expiresIn)).to.equal(400);
      expect(r.body.errors[0].attr).to.equal('expiresIn');
    }
  });

  it('rotation over HTTP returns the successor token and keeps the old one for the grace period', async () => {
    const created = (await s.request('POST', '/v1/keys', { token: admin, body: { name: 'rot', handle: 'rot' } })).body;
    const rotated = await s.request('POST', '/v1/keys/rot/rotate', { token: admin, body: { gracePeriod: '1h' } });
    expect(rotated.status).to.equal(201);
    expect(rotated.body.rotatedFrom).to.equal(created.id);
    expect(rotated.body.predecessor.rotatedTo).to.equal(rotated.body.id);
    expect((await s.request('GET', '/v1/auth/me', { token: created.token })).status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: rotated.body.token })).status).to.equal(200);
    expect((await s.request('GET', '/v1/keys/rot', { token: admin })).body.id).to.equal(rotated.body.id);
    expect((await s.request('POST', `/v1/keys/${created.id}/rotate`, { token: admin })).status).to.equal(409);
  });
});
