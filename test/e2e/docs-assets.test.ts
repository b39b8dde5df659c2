// The docs UI assets come from the installed swagger-ui-dist package: only the listed files, with their types and a
// day of caching; anything else, including a way out of the folder, is a 404 in the envelope.
import { expect } from 'chai';
import { startTestServer, type Res, type TestServer } from '../support/server.js';

describe('e2e: docs assets', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  function expectNotFound(r: Res, what: string): void {
    expect(r.status, what).to.equal(404);
    expect(r.body, what).to.deep.equal({
      type: 'client_error',
      errors: [{ code: 'not_found', detail: 'No such asset.', attr: null, extra: null }],
    });
    expect(r.headers.get('cache-control'), what).to.equal(null);
  }

  it('serves the listed files with their content type and Cache-Control', async () => {
    for (const [file, type] of [
      ['swagger-ui.css', 'text/css'],
      ['swagger-ui-bundle.js', 'text/javascript'],
      ['favicon-32x32.png', 'image/png'],
    ] as const) {
      const r = await s.request('GET', `/docs/assets/${file}`);
      expect(r.status, file).to.equal(200);
      expect(r.headers.get('content-type'), file).to.match(new RegExp(`^${type}`));
      expect(r.headers.get('cache-control'), file).to.equal('public, max-age=86400');
      expect(Number(r.headers.get('content-length')), file).to.be.above(0);
    }
  });

  it('refuses other files of the package and every way out of the folder', async () => {
    for (const path of [
      'package.json', // in the folder, but not listed
      'index.html',
      'nothing.js',
      '..%2Fpackage.json',
      '%2E%2E%2F%2E%2E%2Fpackage.json',
      '..%5C..%5Cpackage.json',
      '%2Fetc%2Fpasswd',
      '.%2Fswagger-ui.css',
      'swagger-ui.css%00.png',
    ]) {
      expectNotFound(await s.request('GET', `/docs/assets/${path}`), path);
    }
    // Dot segments in the URL itself never reach the route: they are a plain unknown path.
    const up = await s.request('GET', '/docs/assets/%2E%2E/%2E%2E/package.json');
    expect(up.status).to.equal(404);
  });
});
