// A standard OAuth client (openid-client 6) introspects and revokes with its built-in client authentication methods;
// the endpoints answer RFC 6749 §5.2 errors, refuse ambiguous credentials, and keep the tenant rules.
import { expect } from 'chai';
import * as oauth from 'openid-client';
import { checkedFetch } from '../support/contract.js';
import { rawRequest } from '../support/raw-http.js';
import { ADMIN_EMAIL, startTestServer, type Res, type TestServer } from '../support/server.js';
import { World, type IssuedKey } from '../support/world.js';

const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

const form = (fields: Record<string, string>): { raw: string; headers: Record<string, string> } => ({
  raw: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});

describe('e2e: OAuth clients (openid-client) against /oauth/introspect and /oauth/revoke', function () {
  this.timeout(30_000);
  let s: TestServer;
  let w: World;
  let ws: string;
  let verifier: IssuedKey;
  let target: IssuedKey;
  let adminId: string;

  beforeEach(async () => {
    s = await startTestServer();
    w = new World(s.running.ledger);
    adminId = s.running.ledger.read.userByEmail(ADMIN_EMAIL)!.id;
    ws = await w.workspace(adminId, 'A');
    const member = await w.account({ [ws]: 'member' });
    verifier = await w.key(member.id, ws, { name: 'verifier' });
    target = await w.key(member.id, ws, { name: 'target' });
  });
  afterEach(async () => s.dispose());

  /** A client configured the standard way: RFC 8414 discovery, then the given client authentication. */
  async function client(id: string, auth: oauth.ClientAuth): Promise<oauth.Configuration> {
    const config = await oauth.discovery(new URL(s.url), id, undefined, auth, {
      algorithm: 'oauth2',
      execute: [oauth.allowInsecureRequests], // loopback http in tests
      [oauth.customFetch]: (url, init) => checkedFetch(url, init),
    });
    config[oauth.customFetch] = (url, init) => checkedFetch(url, init);
    return config;
  }

  const me = async (token: string): Promise<Res> => s.request('GET', '/v1/auth/me', { token });

  it('discovery (RFC 8414) announces the endpoints, their client authentication methods and the JWKS', async () => {
    const config = await client(verifier.id, oauth.ClientSecretBasic(verifier.token));
    const m = config.serverMetadata();
    expect(m.issuer).to.equal(new URL(s.url).origin);
    expect(m.introspection_endpoint).to.equal(`${m.issuer}/oauth/introspect`);
    expect(m.revocation_endpoint).to.equal(`${m.issuer}/oauth/revoke`);
    expect(m.introspection_endpoint_auth_methods_supported).to.deep.equal([
      'client_secret_basic',
      'client_secret_post',
    ]);
    expect(m.revocation_endpoint_auth_methods_supported).to.deep.equal([
      'client_secret_basic',
      'client_secret_post',
      'none',
    ]);
    expect(m.jwks_uri).to.equal(`${m.issuer}/.well-known/jwks.json`);
    expect((await s.request('GET', '/.well-known/jwks.json')).status).to.equal(200);
  });

  for (const [name, auth] of [
    ['ClientSecretBasic', (secret: string) => oauth.ClientSecretBasic(secret)],
    ['ClientSecretPost', (secret: string) => oauth.ClientSecretPost(secret)],
  ] as const) {
    it(`tokenIntrospection() with ${name}: every claim, and the effective scopes /v1/auth/me reports`, async () => {
      const config = await client(verifier.id, auth(verifier.token));
      const r = await oauth.tokenIntrospection(config, target.token);
      expect(r).to.include({ active: true, token_type: 'api_key', client_id: target.id, jti: target.id });
      const scopes = (await me(target.token)).body.scopes as string[];
      expect(scopes.length).to.be.greaterThan(1);
      expect(r.scope!.split(' ').sort()).to.deep.equal([...scopes].sort());
      expect(await oauth.tokenIntrospection(config, 'tl_unknown')).to.deep.equal({ active: false });
    });

    it(`tokenRevocation() with ${name} revokes the token`, async () => {
      const config = await client(verifier.id, auth(verifier.token));
      await oauth.tokenRevocation(config, target.token);
      expect((await me(target.token)).status).to.equal(401);
      expect((await me(verifier.token)).status).to.equal(200);
    });
  }

  it('tokenRevocation() as a public client (None): whoever holds a token may revoke it', async () => {
    const config = await client('any-public-client', oauth.None());
    await oauth.tokenRevocation(config, target.token);
    expect((await me(target.token)).status).to.equal(401);
  });

  it('a wrong client secret is invalid_client with a Basic challenge, for openid-client and on the wire', async () => {
    const config = await client(verifier.id, oauth.ClientSecretBasic(target.token)); // another key's token
    let thrown: unknown;
    await oauth.tokenIntrospection(config, target.token).catch((err: unknown) => (thrown = err));
    // openid-client reports a 401 with a challenge as the challenge, and keeps the response for the body.
    expect(thrown).to.be.instanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = thrown as oauth.WWWAuthenticateChallengeError;
    expect(challenge.status).to.equal(401);
    expect(challenge.cause[0]!.scheme).to.equal('basic');
    expect(((await challenge.response.json()) as { error: string }).error).to.equal('invalid_client');
    for (const authorization of [basic(verifier.id, 'tl_wrong'), basic('key_nobody', verifier.token), 'Basic !!!']) {
      const r = await s.request('POST', '/oauth/introspect', { headers: { authorization }, body: { token: 'x' } });
      expect(r.status, authorization).to.equal(401);
      expect(r.body).to.deep.equal({ error: 'invalid_client', error_description: r.body.error_description });
      expect(r.headers.get('www-authenticate')).to.match(/^Basic realm="token-ledger"/);
    }
    const none = await s.request('POST', '/oauth/introspect', { body: { token: target.token } });
    expect(none.status).to.equal(401);
    expect(none.body.error).to.equal('invalid_client');
    expect(none.headers.get('www-authenticate')).to.match(/^Basic /);
    // Revocation admits public clients, but client credentials that are sent must be good.
    const revoke = await s.request('POST', '/oauth/revoke', {
      headers: { authorization: basic(verifier.id, 'tl_wrong') },
      body: { token: target.token },
    });
    expect(revoke.status).to.equal(401);
    expect(revoke.body.error).to.equal('invalid_client');
    expect((await me(target.token)).status).to.equal(200);
  });

  it('bad input is an RFC 6749 invalid_request, never the envelope and never a 500', async () => {
    const cases: Array<[string, { raw?: string; body?: unknown; headers?: Record<string, string> }]> = [
      ['unknown field', { body: { token: 'x', extra: 1 } }],
      ['no token', { body: {} }],
      ['no body', {}],
      ['not JSON', { raw: '{', headers: { 'content-type': 'application/json' } }],
      ['token too long', { body: { token: 'x'.repeat(9000) } }],
      ['secret without id', form({ token: 'x', client_secret: verifier.token })],
      ['client_id differs from Basic', { ...form({ token: 'x', client_id: target.id }) }],
    ];
    for (const [what, opts] of cases) {
      const headers = { authorization: basic(verifier.id, verifier.token), ...(opts.headers ?? {}) };
      if (what === 'secret without id') delete (headers as Record<string, string>).authorization;
      const r = await s.request('POST', '/oauth/introspect', { ...opts, headers });
      expect(r.status, what).to.equal(400);
      expect(r.body.error, what).to.equal('invalid_request');
      expect(r.body.error_description, what).to.be.a('string').and.not.match(/["\\]/);
    }
    const get = await s.request('GET', '/oauth/introspect');
    expect(get.status).to.equal(405);
    expect(get.body.error).to.equal('invalid_request');
  });

  it('ambiguous client authentication is refused: Basic and Bearer, Basic and client_secret, Bearer and client_secret', async () => {
    const twoHeaders = await rawRequest(
      s.url,
      'POST',
      '/oauth/introspect',
      ['authorization', basic(verifier.id, verifier.token), 'authorization', `Bearer ${verifier.token}`],
      { token: target.token },
    );
    expect(twoHeaders.status).to.equal(400);
    expect(twoHeaders.body.error).to.equal('invalid_request');
    for (const authorization of [basic(verifier.id, verifier.token), `Bearer ${verifier.token}`]) {
      for (const path of ['/oauth/introspect', '/oauth/revoke']) {
        const f = form({ token: target.token, client_id: verifier.id, client_secret: verifier.token });
        const r = await s.request('POST', path, { raw: f.raw, headers: { ...f.headers, authorization } });
        expect(r.status, `${path} ${authorization.slice(0, 6)}`).to.equal(400);
        expect(r.body.error).to.equal('invalid_request');
      }
    }
    expect((await me(target.token)).status).to.equal(200);
  });

  it('keeps the tenant rules: a verifier of workspace A gets {active:false} for B’s token; no keys:verify is 403', async () => {
    const B = await w.workspace(adminId, 'B');
    const other = await w.account({ [B]: 'owner' });
    const foreign = await w.key(other.id, B);
    const config = await client(verifier.id, oauth.ClientSecretPost(verifier.token));
    expect(await oauth.tokenIntrospection(config, foreign.token)).to.deep.equal({ active: false });
    const reader = await w.key((await w.account({ [ws]: 'member' })).id, ws, { scopes: ['keys:read'] });
    const r = await s.request('POST', '/oauth/introspect', {
      headers: { authorization: basic(reader.id, reader.token) },
      body: { token: target.token },
    });
    expect(r.status).to.equal(403);
    expect(r.body.error).to.equal('unauthorized_client');
  });

  it('a Bearer caller still works, and introspecting a session reports its effective scopes', async () => {
    const session = await s.login();
    const r = await s.request('POST', '/oauth/introspect', { token: verifier.token, body: { token: session } });
    expect(r.body).to.include({ active: true, token_type: 'session' });
    const scopes = (await me(session)).body.scopes as string[];
    expect(r.body.scope.split(' ').filter(Boolean).sort()).to.deep.equal([...scopes].sort());
  });
});
