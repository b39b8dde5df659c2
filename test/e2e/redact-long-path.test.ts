// A 16 KB request path (near node's header limit) to an unknown route is answered and logged like any other.
import { expect } from 'chai';
import { memoryLogger, startTestServer } from '../support/server.js';

describe('e2e: long request paths', () => {
  it('a 16 KB path of token-like characters gets the normal 404 envelope and a logged URL', async () => {
    const log = memoryLogger('info');
    const s = await startTestServer({}, [], undefined, {}, log.logger);
    try {
      for (const tail of ['a'.repeat(16_000), 'aaaaaaaaa.'.repeat(1_600), `tl_${'-'.repeat(16_000)}`]) {
        const path = `/healthz/${tail}`;
        const r = await s.request('GET', path);
        expect(r.status, r.text.slice(0, 200)).to.equal(404);
        expect(r.body.type).to.equal('client_error');
        expect(r.body.errors[0].code).to.equal('not_found');
      }
      const logged = log.text();
      expect(logged).to.include(`"url":"/healthz/${'a'.repeat(16_000)}"`);
      expect(logged).to.include('"url":"/healthz/[REDACTED]"'); // the dotted run is JWT-shaped
      expect(logged).to.include(`"url":"/healthz/tl_${'-'.repeat(16_000)}"`);
    } finally {
      await s.dispose();
    }
  });
});
