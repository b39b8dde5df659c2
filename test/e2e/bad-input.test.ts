// Bad input on every route gets a clear error in the envelope: never a 500, never a crash.
import { expect } from 'chai';
import { eventsOfType, startTestServer, type TestServer, type Res } from '../support/server.js';

function expectEnvelope(r: Res, status: number, type: 'client_error' | 'validation_error', path = ''): void {
  expect(r.status, r.text).to.equal(status);
  if (path.startsWith('/oauth/')) {
    // RFC 6749 §5.2 bodies there, as OAuth clients expect.
    expect(r.body, r.text).to.have.all.keys('error', 'error_description');
    expect(r.body.error, r.text).to.equal('invalid_request');
    return;
  }
  expect(r.body, r.text).to.have.property('type', type);
  expect(r.body.errors).to.be.an('array').with.length.greaterThan(0);
  expect(r.body.errors[0]).to.have.all.keys('code', 'detail', 'attr', 'extra');
}

describe('e2e: bad input', () => {
  let s: TestServer;
  let session: string;
  let routes: Array<{ method: string; path: string; hasBody: boolean }>;
  before(async () => {
    s = await startTestServer();
    session = await s.login();
    const spec = (await s.request('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    routes = Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path: path.replace(/\{[^}]+\}/g, 'zz-unknown'),
        hasBody: op.requestBody !== undefined,
      })),
    );
  });
  after(async () => s.dispose());

  it('covers every route with a body: malformed JSON → 400', async () => {
    for (const r of routes.filter((x) => x.hasBody)) {
      const res = await s.request(r.method, r.path, {
        token: session,
        raw: '{"name":',
        headers: { 'content-type': 'application/json' },
      });
      expectEnvelope(res, 400, 'client_error', r.path);
      if (!r.path.startsWith('/oauth/'))
        expect(res.body.errors[0].code, `${r.method} ${r.path}`).to.equal('parse_error');
    }
  });

  it('bodies over 64 KiB → 413 on every route with a body', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(70 * 1024) });
    for (const r of routes.filter((x) => x.hasBody && !x.path.includes('zz-unknown'))) {
      const res = await s.request(r.method, r.path, {
        token: session,
        raw: big,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status, `${r.method} ${r.path}`).to.equal(413);
      expectEnvelope(res, 413, 'client_error', r.path);
    }
  });

  it('wrong types, unknown fields and unknown enum values → 400 validation_error naming the field', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/v1/keys', { name: 42 }, 'name'],
      ['POST', '/v1/keys', { name: 'x', format: 'rsa' }, 'format'],
      ['POST', '/v1/keys', { name: 'x', expiresIn: '3 weeks' }, 'expiresIn'],
      ['POST', '/v1/keys', { name: 'x', expiresAt: 'tomorrow' }, 'expiresAt'],
      ['POST', '/v1/keys', { name: 'x', scopes: 'keys:read' }, 'scopes'],
      ['POST', '/v1/keys', { name: 'x', scopes: ['NOT A SCOPE'] }, 'scopes[0]'],
      ['POST', '/v1/keys', { name: 'x', handle: 'Has Spaces' }, 'handle'],
      ['POST', '/v1/keys', { name: 'x', colour: 'red' }, 'colour'],
      ['POST', '/v1/keys', { name: 'x', expiresAt: '2001-01-01T00:00:00Z' }, 'expiresAt'],
      [
        'POST',
        '/v1/keys',
        { name: 'x', expiresAt: new Date(Date.now() + 1e6).toISOString(), expiresIn: 60 },
        'expiresIn',
      ],
      ['POST', '/v1/keys', [], ''],
      ['POST', '/v1/auth/login', { email: 'a@b.c' }, 'password'],
      ['POST', '/v1/users', { email: 'not-an-email', name: 'x', password: 'long enough password' }, 'email'],
      ['POST', '/v1/users', { email: 'x@example.com', name: 'x', password: 'short' }, 'password'],
      ['POST', '/v1/workspaces', { name: '' }, 'name'],
      ['POST', '/v1/keys/verify', { token: 7 }, 'token'],
    ];
    for (const [method, path, body, attr] of cases) {
      const res = await s.request(method, path, { token: session, body });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`).to.equal(400);
      expect(res.body.errors[0].attr, `${method} ${path} ${JSON.stringify(body)}`).to.equal(attr === '' ? null : attr);
    }
  });

  it('unknown resources → 404, unknown routes → 404, wrong methods → 405', async () => {
    expectEnvelope(await s.request('GET', '/v1/keys/key_doesnotexist', { token: session }), 404, 'client_error');
    expectEnvelope(await s.request('GET', '/v1/users/usr_doesnotexist', { token: session }), 404, 'client_error');
    expectEnvelope(
      await s.request('PUT', '/v1/workspaces/ws_nope/policy', { token: session, body: {} }),
      404,
      'client_error',
    );
    expectEnvelope(await s.request('GET', '/v1/nothing-here'), 404, 'client_error');
    expectEnvelope(await s.request('PUT', '/v1/keys/verify', { token: session, body: {} }), 405, 'client_error');
  });

  it('any method a path does not serve, even one the router never heard of → 405 method_not_allowed with Allow', async () => {
    for (const [method, path, allow] of [
      ['PROPFIND', '/v1/keys', ['GET', 'POST']],
      ['PURGE', '/healthz', ['GET']],
      ['SEARCH', '/v1/keys/key_x', ['GET', 'PATCH', 'DELETE']],
      ['PUT', '/v1/auth/login', ['POST']],
      ['DELETE', '/openapi.json', ['GET']],
    ] as const) {
      const r = await s.request(method, path, { token: session });
      expectEnvelope(r, 405, 'client_error');
      expect(r.body.errors[0].code, `${method} ${path}`).to.equal('method_not_allowed');
      expect(r.headers.get('allow')?.split(', '), `${method} ${path}`).to.include.members([...allow]);
    }
    const options = await s.request('OPTIONS', '/v1/keys');
    expect(options.status).to.equal(204);
    expect(options.headers.get('allow')).to.include('POST');
    expectEnvelope(await s.request('PROPFIND', '/v1/nothing-here'), 404, 'client_error');
  });

  it('inherited property names are not fields: constructor, toString and __proto__ are refused like any unknown name', async () => {
    const key = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'proto' } })).body as {
      id: string;
    };
    const ws = (await s.request('GET', '/v1/auth/me', { token: session })).body.workspace.id as string;
    const cases: Array<[string, string, string, string]> = [
      ['POST', '/v1/keys', '{"name":"x","constructor":5}', 'constructor'],
      ['POST', '/v1/keys', '{"name":"x","toString":"y"}', 'toString'],
      ['POST', '/v1/keys', '{"name":"x","__proto__":{"retrievable":true}}', '__proto__'],
      ['PUT', `/v1/workspaces/${ws}/policy`, '{"constructor":5,"toString":"y"}', 'constructor'],
      ['POST', `/v1/keys/${key.id}/rotate`, '{"hasOwnProperty":1}', 'hasOwnProperty'],
      ['POST', `/v1/keys/${key.id}/revoke`, '{"valueOf":1}', 'valueOf'],
    ];
    for (const [method, path, raw, attr] of cases) {
      const res = await s.request(method, path, {
        token: session,
        raw,
        headers: { 'content-type': 'application/json' },
      });
      expectEnvelope(res, 400, 'validation_error');
      expect(res.body.errors[0], `${method} ${path} ${raw}`).to.include({ code: 'unknown_field', attr });
    }
    for (const q of ['constructor=1', 'toString=x', '__proto__=x', 'hasOwnProperty=1']) {
      const res = await s.request('GET', `/v1/keys?${q}`, { token: session });
      expectEnvelope(res, 400, 'validation_error');
      expect(res.body.errors[0].code, q).to.equal('unknown_parameter');
    }
    const form = await s.request('POST', '/oauth/introspect', {
      token: session,
      raw: 'token=x&constructor=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectEnvelope(form, 400, 'validation_error', '/oauth/introspect');
    expect(form.body.error_description).to.equal('constructor is not a known field');
    // The key was never touched by the refused requests.
    expect((await s.request('GET', `/v1/keys/${key.id}`, { token: session })).body.status).to.equal('active');
  });

  it('non-JSON content types are refused with 415', async () => {
    const res = await s.request('POST', '/v1/keys', {
      token: session,
      raw: 'name=x',
      headers: { 'content-type': 'text/plain' },
    });
    expectEnvelope(res, 415, 'client_error');
  });

  it('unknown or repeated query parameters are refused', async () => {
    expectEnvelope(await s.request('GET', '/v1/keys?colour=red', { token: session }), 400, 'validation_error');
    expectEnvelope(await s.request('GET', '/v1/keys?limit=1&limit=2', { token: session }), 400, 'validation_error');
    expectEnvelope(await s.request('GET', '/v1/keys?limit=0', { token: session }), 400, 'validation_error');
    expectEnvelope(await s.request('GET', '/v1/keys?status=gone', { token: session }), 400, 'validation_error');
    expectEnvelope(await s.request('GET', '/v1/keys?cursor=key_nope', { token: session }), 400, 'validation_error');
  });

  it('random junk on every route never yields a 5xx', async () => {
    const junk = [
      'null',
      '"str"',
      '123',
      '{"a":{"b":{"c":[1,2,{"d":null}]}}}',
      '\u0000\u0001',
      '{"name":"\ud800"}',
      '[[[[[[[[[[]]]]]]]]]]',
    ];
    for (const r of routes) {
      for (const raw of r.method === 'GET' ? [] : junk) {
        const res = await s.request(r.method, r.path, {
          token: session,
          raw,
          headers: { 'content-type': 'application/json' },
        });
        expect(res.status, `${r.method} ${r.path} ${JSON.stringify(raw)}: ${res.text}`).to.be.below(500);
      }
      const res = await s.request(r.method, `${r.path}${r.path.includes('?') ? '&' : '?'}x=%ZZ`, { token: session });
      expect(res.status, `${r.method} ${r.path} bad query`).to.be.below(500);
    }
  });

  it('too many failed logins → 429 with Retry-After, recorded as events', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await s.request('POST', '/v1/auth/login', {
        body: { email: 'admin@example.com', password: `wrong password ${i}` },
      });
      expect(r.status).to.equal(401);
      expect(r.body.errors[0].code).to.equal('invalid_credentials');
    }
    const locked = await s.request('POST', '/v1/auth/login', {
      body: { email: 'admin@example.com', password: 'correct horse battery staple' },
    });
    expect(locked.status).to.equal(429);
    expect(Number(locked.headers.get('retry-after'))).to.be.greaterThan(0);
    const unknown = await s.request('POST', '/v1/auth/login', {
      body: { email: 'nobody@example.com', password: 'whatever it is' },
    });
    expect(unknown.status).to.equal(401);
    const failures = (await eventsOfType(s, 'UserLoginFailed')).map((e) => e.data.reason as string);
    expect(failures.filter((f) => f === 'bad_password')).to.have.length(5);
    expect(failures).to.include.members(['throttled', 'unknown_user']);
  });
});
