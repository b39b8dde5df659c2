// The response check every e2e test goes through is real: a response the document does not describe fails it.
import { expect } from 'chai';
import { ContractError, checkResponse, registerContract, type OpenApiDoc } from '../support/contract.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('e2e: responses are checked against the OpenAPI document', () => {
  let s: TestServer;
  let doc: OpenApiDoc;
  before(async () => {
    s = await startTestServer();
    doc = (await s.request('GET', '/openapi.json')).body as OpenApiDoc;
  });
  afterEach(() => registerContract(s.url, doc));
  after(async () => s?.dispose());

  /** The document with one change, registered for the server: its next responses are checked against that. */
  function tamper(change: (d: any) => void): void {
    const copy = structuredClone(doc) as any;
    change(copy);
    registerContract(s.url, copy as OpenApiDoc);
  }

  const failure = async (path: string): Promise<string> => {
    try {
      await s.request('GET', path);
      return 'passed';
    } catch (err) {
      expect(err).to.be.instanceOf(ContractError);
      return (err as Error).message;
    }
  };

  it('passes a response that matches, through the shared request helper', async () => {
    expect(await failure('/healthz')).to.equal('passed');
  });

  it('fails a body that contradicts its schema', async () => {
    tamper(
      (d) =>
        (d.paths['/healthz'].get.responses['200'].content['application/json'].schema.properties.status = {
          type: 'integer',
        }),
    );
    expect(await failure('/healthz')).to.match(/GET \/healthz → 200: the body does not match.*must be integer/s);
  });

  it('fails a member a closed object does not list', async () => {
    tamper((d) => {
      const schema = d.paths['/healthz'].get.responses['200'].content['application/json'].schema;
      delete schema.properties.status;
      schema.required = [];
    });
    expect(await failure('/healthz')).to.match(/must NOT have additional properties/);
  });

  it('fails an undocumented status, media type or body, and an unknown operation that succeeds', async () => {
    tamper((d) => {
      delete d.paths['/healthz'].get.responses['200'];
      delete d.paths['/healthz'].get.responses.default;
    });
    expect(await failure('/healthz')).to.match(/status not documented/);
    tamper((d) => (d.paths['/healthz'].get.responses['200'].content = { 'text/plain': { schema: {} } }));
    expect(await failure('/healthz')).to.match(/application\/json not among text\/plain/);
    tamper((d) => delete d.paths['/healthz'].get.responses['200'].content);
    expect(await failure('/healthz')).to.match(/documented without a body/);
    tamper((d) => delete d.paths['/healthz']);
    expect(await failure('/healthz')).to.match(/no documented operation/);
  });

  it('checks error answers to undocumented routes against the error schema', () => {
    const bad = { status: 404, contentType: 'application/json', text: '{"error":"nope"}' };
    expect(() => checkResponse(doc, { method: 'GET', path: '/nowhere' }, bad)).to.throw(
      ContractError,
      /must have required property 'type'/,
    );
    const good = { ...bad, text: '{"error":"invalid_request","error_description":"x"}' };
    expect(() => checkResponse(doc, { method: 'GET', path: '/oauth/nowhere' }, good)).not.to.throw();
  });
});
