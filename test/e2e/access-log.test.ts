// Access logs never contain a token: not from headers, not from ?api_token= (however it is encoded), not from bodies.
import { expect } from 'chai';
import { plugins } from '../../services/cli/plugins.js';
import { ADMIN_PASSWORD, memoryLogger, startTestServer } from '../support/server.js';
import { checkedFetch } from '../support/contract.js';

describe('e2e: access logs', () => {
  it('log every request without any token, password or credential header', async () => {
    const log = memoryLogger('info');
    const s = await startTestServer({}, plugins, undefined, {}, log.logger);
    try {
      const req = (path: string, init: RequestInit = {}) => checkedFetch(s.url + path, init);
      const login = await s.login();
      const key = (await s.request('POST', '/v1/keys', { token: login, body: { name: 'k' } })).body as {
        token: string;
      };
      const enc = encodeURIComponent(key.token);
      await req('/v1/auth/me', { headers: { authorization: `Api-Key ${key.token}`, 'x-request-id': key.token } });
      await req('/v1/auth/me', { headers: { 'API-KEY': key.token } });
      await req(`/v1/auth/me?api_token=${key.token}`);
      await req(`/v1/revocations?api_token=${key.token}`);
      // Percent-encoded parameter names are decoded by the router: the credential works, and must still be redacted.
      const encodedName = await req(`/v1/revocations?api%5Ftoken=${enc}`);
      expect(encodedName.status).to.equal(200);
      await req(`/v1/revocations?API_TOKEN=${enc}&Password=${encodeURIComponent(ADMIN_PASSWORD)}&x-token=${enc}`);
      await req(`/v1/revocations?api_token=${enc}&api_token=${enc}`);
      await req(`/v1/revocations?limit=${enc}`); // a token in a harmless-looking parameter
      await req(`/v1/keys/${enc}`, { headers: { authorization: `Bearer ${login}` } }); // ... or in the path
      await req(`/v1/keys/verify?api%5Ftoken=${enc}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      await req('/v1/keys/verify', {
        method: 'POST',
        headers: {
          authorization: `APIToken ${key.token}`,
          'content-type': 'application/json',
          'x-request-id': key.token.slice(0, 60),
        },
        body: JSON.stringify({ token: key.token }),
      });
      await req('/oauth/introspect', {
        method: 'POST',
        headers: { authorization: `Bearer ${key.token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${key.token}`,
      });
      const logged = log.text();
      expect(logged).to.include('"url":"/v1/auth/me?api_token=[REDACTED]"');
      expect(logged).to.include('"url":"/v1/revocations?api_token=[REDACTED]"');
      expect(logged).to.include('"url":"/v1/keys/verify?api_token=[REDACTED]"');
      expect(logged.split('\n').filter((l) => l.includes('"msg":"request"')).length).to.be.at.least(13);
      for (const secret of [
        key.token,
        enc,
        key.token.slice(3, 30),
        login,
        login.split('.')[2]!,
        ADMIN_PASSWORD,
        encodeURIComponent(ADMIN_PASSWORD),
      ]) {
        expect(logged).not.to.include(secret);
      }
    } finally {
      await s.dispose();
    }
  });

  it('the raw verify path, like every other route, answers a safe X-Request-Id and logs it with the client IP', async () => {
    const log = memoryLogger('info');
    const s = await startTestServer({}, [], undefined, {}, log.logger);
    try {
      const verify = (requestId: string) =>
        checkedFetch(`${s.url}/v1/keys/verify`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': requestId },
          body: '{}',
        });
      const raw = await verify('trace-4711.a_b');
      expect(raw.status).to.equal(401);
      expect(raw.headers.get('x-request-id')).to.equal('trace-4711.a_b');
      const koa = await checkedFetch(`${s.url}/v1/auth/me`, { headers: { 'x-request-id': 'trace-4712' } });
      expect(koa.headers.get('x-request-id')).to.equal('trace-4712');
      // Unsafe ids are replaced on both paths: spaces, too long, credential-shaped.
      for (const unsafe of ['has space', 'x'.repeat(65), `tl_${'a'.repeat(49)}`]) {
        const r = await verify(unsafe);
        expect(r.headers.get('x-request-id')).to.match(/^req_[0-9a-z]+$/);
      }
      const lines = log
        .text()
        .split('\n')
        .filter((l) => l.includes('"msg":"request"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.reqId === 'trace-4711.a_b')).to.deep.include({
        method: 'POST',
        url: '/v1/keys/verify',
        status: 401,
        ip: '127.0.0.1',
      });
      expect(lines.find((l) => l.reqId === 'trace-4712')).to.deep.include({
        method: 'GET',
        url: '/v1/auth/me',
        status: 401,
        ip: '127.0.0.1',
      });
      expect(lines.filter((l) => typeof l.ms === 'number')).to.have.length(lines.length);
    } finally {
      await s.dispose();
    }
  });
});
