// A restart rebuilds the read model from the log: revoked stays revoked, valid stays valid, sessions survive.
import { expect } from 'chai';
import { startTestServer } from '../support/server.js';

describe('e2e: restart', () => {
  it('revoked stays revoked, valid stays valid, and logged-out sessions stay ended', async () => {
    let s = await startTestServer();
    try {
      const session = await s.login();
      const ended = await s.login();
      const a = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'a' } })).body;
      const b = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'b', format: 'jwt' } })).body;
      expect(
        (await s.request('POST', `/v1/keys/${a.id}/revoke`, { token: session, body: { reason: 'rotated out' } }))
          .status,
      ).to.equal(200);
      expect((await s.request('POST', '/v1/auth/logout', { token: ended })).status).to.equal(204);
      await s.request('GET', '/v1/auth/me', { token: b.token });
      s = await s.restart();
      expect((await s.request('GET', '/v1/auth/me', { token: a.token })).status).to.equal(401);
      expect((await s.request('GET', '/v1/auth/me', { token: b.token })).status).to.equal(200);
      expect((await s.request('GET', '/v1/auth/me', { token: session })).status).to.equal(200);
      expect((await s.request('GET', '/v1/auth/me', { token: ended })).status).to.equal(401);
      const key = await s.request('GET', `/v1/keys/${b.id}`, { token: session });
      expect(key.body.useCount).to.be.at.least(1); // use flushed on shutdown
    } finally {
      await s.dispose();
    }
  });
});
