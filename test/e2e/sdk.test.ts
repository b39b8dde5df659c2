// The documented SDK (clients/api.ts): types generated from the document by openapi-typescript, requests by
// openapi-fetch. The committed types must be what the document generates today, and the seed flows run through it.
import { expect } from 'chai';
import { createLedgerClient } from '../../clients/index.js';
import { plugins } from '../../services/cli/plugins.js';
import { waitUntil } from '../support/async.js';
import { committedApiTypes, generateApiTypes } from '../support/api-types.js';
import { checkedFetch } from '../support/contract.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../support/server.js';

describe('e2e: the generated TypeScript SDK', function () {
  this.timeout(60_000);
  let s: TestServer;
  before(async () => {
    s = await startTestServer({}, plugins);
  });
  after(async () => s?.dispose());

  it('clients/api-schema.ts is what openapi-typescript generates from the document now (npm run generate:client)', async () => {
    const doc = (await s.request('GET', '/openapi.json')).body as Record<string, unknown>;
    expect(await generateApiTypes(doc)).to.equal(committedApiTypes());
  });

  it('runs the seed flows: log in, create, use, rotate, revoke, audit', async () => {
    const anonymous = createLedgerClient({ baseUrl: s.url, fetch: checkedFetch });
    const login = await anonymous.POST('/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    expect(login.response.status).to.equal(200);
    const session = createLedgerClient({ baseUrl: s.url, token: login.data!.token, fetch: checkedFetch });

    const created = await session.POST('/v1/keys', {
      body: { name: 'sdk', description: 'made by the generated client', handle: 'sdk', expiresIn: '30d' },
    });
    expect(created.response.status, JSON.stringify(created.error)).to.equal(201);
    const key = created.data!;
    expect(key.token).to.be.a('string');

    // Use it: every presentation the SDK offers, and verification by the session.
    for (const scheme of ['Bearer', 'Api-Key', 'APIToken'] as const) {
      const me = await createLedgerClient({ baseUrl: s.url, token: key.token, scheme, fetch: checkedFetch }).GET(
        '/v1/auth/me',
      );
      expect(me.data?.credential.keyId, scheme).to.equal(key.id);
    }
    const verified = await session.POST('/v1/keys/verify', { body: { token: key.token } });
    expect(verified.data?.valid).to.equal(true);

    const rotated = await session.POST('/v1/keys/{idOrHandle}/rotate', {
      params: { path: { idOrHandle: 'sdk' } },
      body: { gracePeriod: '0s' },
    });
    expect(rotated.response.status).to.equal(201);
    expect(rotated.data!.rotatedFrom).to.equal(key.id);
    const old = await createLedgerClient({ baseUrl: s.url, token: key.token, fetch: checkedFetch }).GET('/v1/auth/me');
    expect(old.response.status).to.equal(401);
    expect(old.error?.errors[0]?.code).to.equal('invalid_token');

    const revoked = await session.POST('/v1/keys/{idOrHandle}/revoke', {
      params: { path: { idOrHandle: rotated.data!.id } },
      body: { reason: 'done with the SDK test' },
    });
    expect(revoked.response.status).to.equal(200);
    expect(revoked.data!.status).to.equal('revoked');

    const history = await session.GET('/v1/keys/{idOrHandle}/history', {
      params: { path: { idOrHandle: rotated.data!.id } },
    });
    expect(history.data!.lineage.predecessors).to.deep.equal([key.id]);
    expect(history.data!.events.map((e) => e.type)).to.include.members(['ApiKeyRotated', 'ApiKeyRevoked']);
    await waitUntil(
      async () => {
        const used = await session.GET('/v1/audit', { params: { query: { type: 'ApiKeyUsed', keyId: key.id } } });
        return (used.data?.items.length ?? 0) > 0;
      },
      10_000,
      'the key use to reach the audit trail',
    );
    const trail = await session.GET('/v1/audit', { params: { query: { keyId: key.id } } });
    expect(trail.data!.items.map((i) => i.type)).to.include.members(['ApiKeyCreated', 'ApiKeyUsed', 'ApiKeyRotated']);
  });
});
