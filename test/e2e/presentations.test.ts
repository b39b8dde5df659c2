// 5 presentations × {valid, expired, revoked, malformed, unknown}: one 200, and the same 401 for every failure.
import { expect } from 'chai';
import { TestClock } from '../support/ledger.js';
import { INVALID_TOKEN_BODY, startTestServer, type TestServer } from '../support/server.js';
import { mintOpaqueToken } from '../../services/crypto/tokens.js';

type Present = (token: string) => { path: string; headers: Record<string, string> };

// The URL parameter works only on routes that opt in: exports and feeds.
const URL_ROUTE = '/v1/revocations';

const presentations: Record<string, Present> = {
  'Authorization: Bearer': (t) => ({ path: '/v1/auth/me', headers: { authorization: `Bearer ${t}` } }),
  'Authorization: Api-Key': (t) => ({ path: '/v1/auth/me', headers: { authorization: `Api-Key ${t}` } }),
  'Authorization: APIToken': (t) => ({ path: '/v1/auth/me', headers: { authorization: `APIToken ${t}` } }),
  'API-KEY header': (t) => ({ path: '/v1/auth/me', headers: { 'API-KEY': t } }),
  'api_token URL parameter': (t) => ({ path: `${URL_ROUTE}?api_token=${encodeURIComponent(t)}`, headers: {} }),
};

describe('e2e: presentation × token state matrix', () => {
  let s: TestServer;
  let clock: TestClock;
  const tokens: Record<string, string> = {};
  before(async () => {
    clock = new TestClock(Date.now());
    s = await startTestServer({}, (await import('../../services/cli/plugins.js')).plugins, undefined, {
      clock: clock.now,
      expiryTimer: false,
    });
    const session = await s.login();
    const make = async (body: Record<string, unknown>) =>
      (await s.request('POST', '/v1/keys', { token: session, body })).body as { id: string; token: string };
    tokens.valid = (await make({ name: 'valid' })).token;
    tokens.expired = (await make({ name: 'expired', expiresIn: 60 })).token;
    const revoked = await make({ name: 'revoked' });
    tokens.revoked = revoked.token;
    await s.request('POST', `/v1/keys/${revoked.id}/revoke`, { token: session, body: { reason: 'test' } });
    tokens.malformed = 'tl_this-is-not-a-token';
    tokens.unknown = mintOpaqueToken('tl');
    clock.advance(61);
  });
  after(async () => s.dispose());

  for (const [name, present] of Object.entries(presentations)) {
    for (const state of ['valid', 'expired', 'revoked', 'malformed', 'unknown']) {
      it(`${name} with a ${state} token → ${state === 'valid' ? '200' : '401 invalid_token'}`, async () => {
        const { path, headers } = present(tokens[state]!);
        const r = await s.request('GET', path, { headers });
        if (state === 'valid') {
          expect(r.status, r.text).to.equal(200);
        } else {
          expect(r.status).to.equal(401);
          expect(r.body).to.deep.equal(INVALID_TOKEN_BODY);
          expect(r.headers.get('www-authenticate')).to.equal('Bearer error="invalid_token"');
        }
      });
    }
  }

  it('scheme names are case-insensitive', async () => {
    for (const scheme of ['bearer', 'BEARER', 'api-key', 'API-KEY', 'apitoken', 'ApiToken']) {
      expect((await s.request('GET', '/v1/auth/me', { token: tokens.valid!, scheme })).status, scheme).to.equal(200);
    }
  });

  it('an unknown scheme or a URL token on a route that did not opt in is refused with the same 401', async () => {
    const basic = await s.request('GET', '/v1/auth/me', { token: tokens.valid!, scheme: 'Basic' });
    expect(basic.status).to.equal(401);
    expect(basic.body).to.deep.equal(INVALID_TOKEN_BODY);
    const url = await s.request('GET', `/v1/keys?api_token=${tokens.valid!}`);
    expect(url.status).to.equal(401);
    expect(url.body).to.deep.equal(INVALID_TOKEN_BODY);
  });

  it('seed 004 followed literally: "Bearer <token>" typed into a field that adds "Bearer " itself still works', async () => {
    // Swagger UI's Bearer field and http-bearer clients prefix what was typed; the typed scheme is the one meant.
    const session = await s.login();
    for (const [header, scheme] of [
      [`Bearer Bearer ${session}`, 'bearer'],
      [`Bearer Bearer ${tokens.valid!}`, 'bearer'],
      [`bearer\tAPIToken ${tokens.valid!}`, 'apitoken'],
      [`Bearer Api-Key ${tokens.valid!}`, 'api-key'],
    ] as const) {
      const r = await s.request('GET', '/v1/auth/me', { headers: { authorization: header } });
      expect(r.status, header.slice(0, 20)).to.equal(200);
      expect(r.body.credential.scheme).to.equal(scheme);
    }
    // Only that one wrapper: no other doubling, no third word, and a bad token is the usual 401.
    for (const header of [
      `Api-Key Bearer ${tokens.valid!}`,
      `Bearer Bearer Bearer ${tokens.valid!}`,
      `Bearer Basic ${tokens.valid!}`,
      `Bearer Bearer ${tokens.revoked!}`,
      `Bearer Bearer`,
    ]) {
      const r = await s.request('GET', '/v1/auth/me', { headers: { authorization: header } });
      expect(r.status, header.slice(0, 24)).to.equal(401);
      expect(r.body).to.deep.equal(INVALID_TOKEN_BODY);
    }
  });

  it('a user_id next to api_token must name the key owner', async () => {
    const me = await s.request('GET', '/v1/auth/me', { token: tokens.valid! });
    const ok = await s.request('GET', `${URL_ROUTE}?user_id=${me.body.user.id}&api_token=${tokens.valid!}`);
    expect(ok.status).to.equal(200);
    const wrong = await s.request('GET', `${URL_ROUTE}?user_id=usr_someoneelse&api_token=${tokens.valid!}`);
    expect(wrong.status).to.equal(401);
  });

  it('LEDGER_AUTH_SCHEMES limits the accepted presentations', async () => {
    const limited = await startTestServer({ LEDGER_AUTH_SCHEMES: 'bearer' });
    try {
      const session = await limited.login();
      const key = (await limited.request('POST', '/v1/keys', { token: session, body: { name: 'k' } })).body
        .token as string;
      expect((await limited.request('GET', '/v1/auth/me', { token: key })).status).to.equal(200);
      expect((await limited.request('GET', '/v1/auth/me', { headers: { 'API-KEY': key } })).status).to.equal(401);
      expect((await limited.request('GET', '/v1/auth/me', { token: key, scheme: 'Api-Key' })).status).to.equal(401);
    } finally {
      await limited.dispose();
    }
  });
});
