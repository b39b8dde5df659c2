// A request that presents two credentials is refused with 400 ambiguous_credentials, on the Koa routes and on the raw verify path alike.
import { expect } from 'chai';
import { plugins } from '../../services/cli/plugins.js';
import { rawRequest } from '../support/raw-http.js';
import { startTestServer, type TestServer } from '../support/server.js';

const AMBIGUOUS = {
  type: 'client_error',
  errors: [
    {
      code: 'ambiguous_credentials',
      detail:
        'The request presents more than one credential; send exactly one: an Authorization header, an API-KEY header or an api_token parameter.',
      attr: null,
      extra: null,
    },
  ],
};

describe('e2e: ambiguous credentials', () => {
  let s: TestServer;
  let a: string;
  let b: string;
  before(async () => {
    s = await startTestServer({}, plugins);
    const session = await s.login();
    a = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'key a' } })).body.token as string;
    b = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'key b' } })).body.token as string;
  });
  after(async () => s.dispose());

  const me = (path: string, headers: string[]) => rawRequest(s.url, 'GET', path, headers);
  const verify = (path: string, headers: string[]) => rawRequest(s.url, 'POST', path, headers, { token: a });

  it('one credential in any presentation is still served (controls)', async () => {
    for (const headers of [
      ['Authorization', `Bearer ${a}`],
      ['API-KEY', b],
      ['Authorization', `Api-Key ${a}`, 'Authorization', ''],
    ]) {
      expect((await me('/v1/auth/me', headers)).status, headers.join(' ')).to.equal(200);
      expect((await verify('/v1/keys/verify', headers)).status, headers.join(' ')).to.equal(200);
    }
    expect((await me(`/v1/revocations?api_token=${a}`, [])).status).to.equal(200);
  });

  const combos: Record<string, (a: string, b: string) => { query: string; headers: string[] }> = {
    'two Authorization headers of two keys': (a, b) => ({
      query: '',
      headers: ['Authorization', `Bearer ${a}`, 'Authorization', `Bearer ${b}`],
    }),
    'two Authorization headers with the same key': (a) => ({
      query: '',
      headers: ['Authorization', `Bearer ${a}`, 'authorization', `Bearer ${a}`],
    }),
    'two API-KEY headers': (a, b) => ({ query: '', headers: ['API-KEY', a, 'api-key', b] }),
    'Authorization plus API-KEY': (a, b) => ({ query: '', headers: ['Authorization', `APIToken ${a}`, 'API-KEY', b] }),
    'Authorization plus ?api_token=': (a, b) => ({
      query: `?api_token=${b}`,
      headers: ['Authorization', `Bearer ${a}`],
    }),
    'API-KEY plus ?api_token=': (a, b) => ({ query: `?api_token=${b}`, headers: ['API-KEY', a] }),
    '?api_token= twice': (a, b) => ({ query: `?api_token=${a}&api_token=${b}`, headers: [] }),
  };

  for (const [name, combo] of Object.entries(combos)) {
    it(`${name} → 400 ambiguous_credentials on GET /v1/auth/me, a URL-token route and POST /v1/keys/verify`, async () => {
      const { query, headers } = combo(a, b);
      for (const [path, send] of [
        [`/v1/auth/me${query}`, me],
        [`/v1/revocations${query}`, me],
        [`/v1/keys/verify${query}`, verify],
      ] as const) {
        const r = await send(path, headers);
        expect(r.status, `${path} ${JSON.stringify(r.body)}`).to.equal(400);
        expect(r.body).to.deep.equal(AMBIGUOUS);
      }
    });
  }
});
