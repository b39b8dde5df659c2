// Contract details: positional cursors survive status changes, the rotate response matches its published schema,
// and key-material failures are the server's (500, no internals), not the client's.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { tempDir } from '../support/tmp.js';
import { memoryLogger, startTestServer, type TestServer } from '../support/server.js';

describe('e2e: HTTP contract details', () => {
  let s: TestServer;
  afterEach(async () => s?.dispose());

  it('a cursor keeps its place when the item it points at leaves the filtered list', async () => {
    s = await startTestServer();
    const session = await s.login();
    const made: string[] = [];
    for (let i = 0; i < 5; i++)
      made.push((await s.request('POST', '/v1/keys', { token: session, body: { name: `k${i}` } })).body.id as string);
    const ids = (await s.request('GET', '/v1/keys', { token: session })).body.items.map(
      (k: { id: string }) => k.id,
    ) as string[]; // newest first
    expect(ids).to.have.members(made);
    const first = await s.request('GET', '/v1/keys?status=active&limit=2', { token: session });
    expect(first.body.items.map((k: { id: string }) => k.id)).to.deep.equal(ids.slice(0, 2));
    // The last item of the page is revoked before the next page is asked for.
    expect((await s.request('DELETE', `/v1/keys/${ids[1]}`, { token: session })).status).to.equal(200);
    const second = await s.request('GET', `/v1/keys?status=active&limit=2&cursor=${first.body.nextCursor}`, {
      token: session,
    });
    expect(second.status, second.text).to.equal(200);
    expect(second.body.items.map((k: { id: string }) => k.id)).to.deep.equal(ids.slice(2, 4));
    const third = await s.request('GET', `/v1/keys?status=active&limit=2&cursor=${second.body.nextCursor}`, {
      token: session,
    });
    expect(third.body.items.map((k: { id: string }) => k.id)).to.deep.equal(ids.slice(4));
    expect(third.body.nextCursor).to.equal(null);
    // A bare id (the earlier cursor form) still works, and garbage is still refused.
    const byId = await s.request('GET', `/v1/keys?limit=1&cursor=${ids[0]}`, { token: session });
    expect(byId.body.items.map((k: { id: string }) => k.id)).to.deep.equal([ids[1]]);
    expect((await s.request('GET', '/v1/keys?cursor=bm9wZQ', { token: session })).status).to.equal(400);
  });

  it('the rotate response matches its OpenAPI 201 schema, token and predecessor included', async () => {
    s = await startTestServer();
    const session = await s.login();
    const key = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'rot' } })).body as { id: string };
    const rotated = await s.request('POST', `/v1/keys/${key.id}/rotate`, {
      token: session,
      body: { gracePeriod: '1h' },
    });
    expect(rotated.status).to.equal(201);
    const spec = (await s.request('GET', '/openapi.json')).body;
    const schema = spec.paths['/v1/keys/{idOrHandle}/rotate'].post.responses['201'].content['application/json'].schema;
    expect(schema.properties).to.include.keys('token', 'predecessor');
    expect(Object.keys(schema.properties)).to.include.members(Object.keys(rotated.body));
    expect(Object.keys(schema.properties.predecessor.properties)).to.include.members(
      Object.keys(rotated.body.predecessor),
    );
  });

  it('a secret sealed under another master key: 500 server_error without internals, details in the log', async () => {
    const dir = tempDir('masterkey');
    const first = await startTestServer({ LEDGER_MASTER_KEY: randomBytes(32).toString('base64') }, [], dir);
    const created = await first.request('POST', '/v1/keys', {
      token: await first.login(),
      body: { name: 'sealed', retrievable: true },
    });
    expect(created.status).to.equal(201);
    await first.stop();
    const log = memoryLogger('error');
    s = await startTestServer({ LEDGER_MASTER_KEY: randomBytes(32).toString('base64') }, [], dir, {}, log.logger);
    const r = await s.request('GET', `/v1/keys/${created.body.id}/token`, { token: await s.login() });
    expect(r.status).to.equal(500);
    expect(r.body).to.deep.equal({
      type: 'server_error',
      errors: [{ code: 'internal_error', detail: 'An internal error occurred.', attr: null, extra: null }],
    });
    expect(log.text()).to.include('MASTER_KEY_MISMATCH');
  });
});
