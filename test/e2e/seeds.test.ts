// One end-to-end flow per product document in shared/seeds, over real HTTP against a started server.
import { expect } from 'chai';
import { plugins } from '../../services/cli/plugins.js';
import { TestClock } from '../support/ledger.js';
import { INVALID_TOKEN_BODY, startTestServer, type TestServer } from '../support/server.js';

describe('e2e: the seed flows', () => {
  let s: TestServer;
  let clock: TestClock;
  beforeEach(async () => {
    clock = new TestClock(Date.now());
    s = await startTestServer({}, plugins, undefined, { clock: clock.now, expiryTimer: false });
  });
  afterEach(async () => s.dispose());

  it('seed 000: a named token with description and expiry, shown once, used with the API-KEY header', async () => {
    const session = await s.login();
    const created = await s.request('POST', '/v1/keys', {
      token: session,
      body: { name: 'dbt', description: 'nightly sync', expiresIn: '30d' },
    });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ name: 'dbt', description: 'nightly sync' });
    expect(created.body.token).to.match(/^tl_/);
    expect(created.headers.get('cache-control')).to.equal('no-store');
    const me = await s.request('GET', '/v1/auth/me', { headers: { 'API-KEY': created.body.token } });
    expect(me.status).to.equal(200);
    expect(me.body.credential).to.deep.include({ kind: 'api_key', keyId: created.body.id, scheme: 'api-key-header' });
    // shown once: never again in any read
    const read = await s.request('GET', `/v1/keys/${created.body.id}`, { token: session });
    expect(read.text).not.to.include(created.body.token);
    const list = await s.request('GET', '/v1/keys', { token: session });
    expect(list.text).not.to.include(created.body.token);
    // a URL token on a route that did not opt in is refused
    const url = await s.request('GET', `/v1/auth/me?api_token=${created.body.token}`);
    expect(url.status).to.equal(401);
  });

  it('seed 000: the URL parameters api_token and user_id, on the routes that opt in (exports and feeds) and nowhere else', async () => {
    const session = await s.login();
    const me = (await s.request('GET', '/v1/auth/me', { token: session })).body.user.id as string;
    const created = await s.request('POST', '/v1/keys', {
      token: session,
      body: { name: 'dbt webhook', expiresIn: '30d' },
    });
    const token = encodeURIComponent(created.body.token as string);
    // "Export conversation history": the audit export, with the token and the user id in the URL.
    const exported = await s.request('GET', `/v1/audit/export?user_id=${me}&api_token=${token}`);
    expect(exported.status, exported.text).to.equal(200);
    expect(exported.text).to.include('"manifest"');
    const feed = await s.request('GET', `/v1/revocations?user_id=${me}&api_token=${token}`);
    expect(feed.status, feed.text).to.equal(200);
    // The token alone works too; a user_id that is not the key's owner does not.
    expect((await s.request('GET', `/v1/revocations?api_token=${token}`)).status).to.equal(200);
    const wrongUser = await s.request('GET', `/v1/revocations?user_id=usr_someoneelse&api_token=${token}`);
    expect(wrongUser.status).to.equal(401);
    expect(wrongUser.body).to.deep.equal(INVALID_TOKEN_BODY);
    // A normal route refuses a URL token with 401, with or without user_id.
    for (const path of [`/v1/auth/me?api_token=${token}`, `/v1/keys?user_id=${me}&api_token=${token}`]) {
      const r = await s.request('GET', path);
      expect(r.status, path).to.equal(401);
      expect(r.body).to.deep.equal(INVALID_TOKEN_BODY);
    }
  });

  it('seed 001: short-lived login JWT, long-lived JWT key with expiry set at creation, 401 body when expired or deleted', async () => {
    const session = await s.login();
    const created = await s.request('POST', '/v1/keys', {
      token: session,
      body: { name: 'backend', format: 'jwt', expiresIn: 3600 },
    });
    expect(created.status).to.equal(201);
    const jwt = created.body.token as string;
    expect(jwt.split('.')).to.have.length(3);
    expect((await s.request('GET', '/v1/auth/me', { token: jwt })).status).to.equal(200);
    // expiry can be set only on creation
    const patch = await s.request('PATCH', `/v1/keys/${created.body.id}`, {
      token: session,
      body: { expiresAt: new Date(Date.now() + 1e7).toISOString() },
    });
    expect(patch.status).to.equal(400);
    expect(patch.body.errors[0].code).to.equal('expiry_immutable');
    clock.advance(3601);
    const expired = await s.request('GET', '/v1/auth/me', { token: jwt });
    expect(expired.status).to.equal(401);
    expect(expired.body).to.deep.equal(INVALID_TOKEN_BODY);
    expect(expired.headers.get('www-authenticate')).to.equal('Bearer error="invalid_token"');
    // Delete API key is permanent
    const other = await s.request('POST', '/v1/keys', {
      token: await s.login(),
      body: { name: 'other', format: 'jwt' },
    });
    expect((await s.request('DELETE', `/v1/keys/${other.body.id}`, { token: await s.login() })).status).to.equal(200);
    const deleted = await s.request('GET', '/v1/auth/me', { token: other.body.token });
    expect(deleted.status).to.equal(401);
    expect(deleted.body).to.deep.equal(INVALID_TOKEN_BODY);
  });

  it('seed 001: a session JWT expires too, with the same 401', async () => {
    const session = await s.login();
    clock.advance(16 * 60);
    const r = await s.request('GET', '/v1/auth/me', { token: session });
    expect(r.status).to.equal(401);
    expect(r.body).to.deep.equal(INVALID_TOKEN_BODY);
  });

  it('seed 002: create a key with a handle and alias, fetch its token by handle, authenticate with Bearer until deleted', async () => {
    const session = await s.login();
    const created = await s.request('POST', '/v1/keys', {
      token: session,
      body: { name: 'keytoken', handle: 'keytoken', alias: 'my-key', retrievable: true },
    });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ handle: 'keytoken', alias: 'my-key' });
    const got = await s.request('GET', '/v1/keys/keytoken/token', { token: session });
    expect(got.status).to.equal(200);
    expect(got.body.token).to.equal(created.body.token);
    const user = await s.request('GET', '/v1/auth/me', { token: got.body.token });
    expect(user.status).to.equal(200);
    expect(user.body.user.email).to.equal('admin@example.com');
    const dup = await s.request('POST', '/v1/keys', { token: session, body: { name: 'again', handle: 'keytoken' } });
    expect(dup.status).to.equal(409);
    expect((await s.request('DELETE', '/v1/keys/keytoken', { token: session })).status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: got.body.token })).status).to.equal(401);
  });

  it('seed 003: a workspace member creates a key (shown once, with an expiry date) and uses Authorization: Api-Key', async () => {
    const admin = await s.login();
    const ws = await s.request('POST', '/v1/workspaces', { token: admin, body: { name: 'Erathos' } });
    expect(ws.status).to.equal(201);
    const u = await s.request('POST', '/v1/users', {
      token: admin,
      body: {
        email: 'dev@example.com',
        name: 'Dev',
        password: 'another long password',
        workspaceId: ws.body.id,
        role: 'member',
      },
    });
    expect(u.status).to.equal(201);
    const dev = await s.login('dev@example.com', 'another long password');
    const expiresAt = new Date(clock.ms + 7 * 86400_000).toISOString();
    const created = await s.request('POST', '/v1/keys', {
      token: dev,
      body: { name: 'airflow', workspaceId: ws.body.id, expiresAt },
    });
    expect(created.status).to.equal(201);
    expect(created.body.expiresAt).to.equal(expiresAt);
    const me = await s.request('GET', '/v1/auth/me', { token: created.body.token, scheme: 'Api-Key' });
    expect(me.status).to.equal(200);
    expect(me.body.workspace.id).to.equal(ws.body.id);
    expect(me.body.role).to.equal('member');
    // the key cannot be retrieved later
    expect((await s.request('GET', `/v1/keys/${created.body.id}/token`, { token: dev })).status).to.equal(400);
    // removed from the workspace: the key stops at once
    expect(
      (await s.request('DELETE', `/v1/workspaces/${ws.body.id}/members/${u.body.id}`, { token: admin })).status,
    ).to.equal(204);
    expect((await s.request('GET', '/v1/auth/me', { token: created.body.token, scheme: 'Api-Key' })).status).to.equal(
      401,
    );
  });

  it('seed 004: APIToken for API tokens, Bearer for the login JWT, and a docs portal with an Authorize button', async () => {
    const login = await s.request('POST', '/v1/auth/login', {
      body: { email: 'admin@example.com', password: 'correct horse battery staple' },
    });
    expect(login.status).to.equal(200);
    expect(login.body.tokenType).to.equal('Bearer');
    const jwt = login.body.token as string;
    const created = await s.request('POST', '/v1/keys', {
      token: jwt,
      body: { name: 'autopi', expiresAt: new Date(clock.ms + 86400_000).toISOString() },
    });
    expect((await s.request('GET', '/v1/auth/me', { token: created.body.token, scheme: 'APIToken' })).status).to.equal(
      200,
    );
    expect((await s.request('GET', '/v1/auth/me', { token: jwt, scheme: 'Bearer' })).body.credential.kind).to.equal(
      'session',
    );
    const docs = await s.request('GET', '/docs');
    expect(docs.status).to.equal(200);
    expect(docs.text).to.include('/docs/assets/swagger-ui-bundle.js');
    expect(docs.text).not.to.match(/https?:\/\/(?!127)/); // no CDN
    const bundle = await s.request('GET', '/docs/assets/swagger-ui-bundle.js');
    expect(bundle.status).to.equal(200);
    const spec = await s.request('GET', '/openapi.json');
    expect(spec.body.openapi).to.equal('3.1.0');
    const schemes = spec.body.components.securitySchemes;
    expect(schemes.Bearer).to.include({ type: 'http', scheme: 'bearer' });
    expect(schemes.APIToken).to.include({ type: 'apiKey', in: 'header', name: 'Authorization' });
    expect(schemes.APIToken.description).to.include('APIToken <token>'); // the Authorize dialog says what to type
    expect(schemes['API-KEY']).to.include({ type: 'apiKey', in: 'header', name: 'API-KEY' });
    // "Remember to write Bearer in front of the token", followed literally in either kind of Authorize field: the
    // http Bearer field sends "Bearer " + what was typed; an Authorization apiKey field sends what was typed.
    const typed = `Bearer ${jwt}`;
    for (const header of [`Bearer ${typed}`, typed]) {
      const me = await s.request('GET', '/v1/auth/me', { headers: { authorization: header } });
      expect(me.status, header.slice(0, 14)).to.equal(200);
      expect(me.body.credential.kind).to.equal('session');
    }
  });
});
