// The OpenAPI document is a valid OpenAPI 3.1 document and lists every route the app serves, with its parameters and bodies.
import { expect } from 'chai';
import type Router from '@koa/router';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApp } from '../../services/http/app.js';
import type { AnyRoute } from '../../services/http/route.js';
import { auditPlugin } from '../../services/audit/plugin.js';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import type { PluginFactory } from '../../services/server.js';
import { loadConfig } from '../../services/config.js';
import { createLogger } from '../../services/logger.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface Operation {
  parameters?: Array<{ name: string; in: string; required?: boolean }>;
  requestBody?: { required: boolean; content: Record<string, unknown> };
  responses: Record<string, unknown>;
}
type Spec = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Keeps the routes a plugin contributes, so the test can build the same app the server runs. */
function capturing(make: PluginFactory, into: AnyRoute[]): PluginFactory {
  return async (ctx) => {
    const plugin = await make(ctx);
    const routes = plugin.routes?.() ?? [];
    into.push(...routes);
    return { ...plugin, routes: () => routes };
  };
}

const template = (koaPath: string): string => koaPath.replace(/:([A-Za-z]+)/g, '{$1}');

describe('e2e: OpenAPI document', () => {
  let s: TestServer;
  let spec: Spec;
  const extraRoutes: AnyRoute[] = [];
  before(async () => {
    s = await startTestServer({}, [
      capturing(auditPlugin(), extraRoutes),
      capturing(revocationsPlugin({ heartbeatMs: 100, retryMs: 50 }), extraRoutes),
    ]);
    const r = await s.request('GET', '/openapi.json');
    expect(r.status).to.equal(200);
    spec = r.body as Spec;
  });
  after(async () => s?.dispose());

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(spec);
    expect(result.errors, JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).to.equal(undefined);
    expect(result.valid).to.equal(true);
    expect(validator.version).to.equal('3.1');
    expect(spec.openapi).to.equal('3.1.0');
  });

  it('lists every method and path the app serves (docs assets aside), with its path parameters', () => {
    // The same app the server runs, built in-process so its router can be read.
    const app = createApp({
      ledger: s.running.ledger,
      config: loadConfig({ PORT: '0', HOST: '127.0.0.1', LEDGER_DATA_DIR: s.dataDir }),
      logger: createLogger('silent'),
      publicJwks: () => [],
      extraRoutes,
    });
    const dispatch = app.middleware.find((m) => 'router' in m) as { router: Router } | undefined;
    expect(dispatch, 'the router middleware').not.to.equal(undefined);
    const served = dispatch!.router.stack.flatMap((layer) =>
      layer.methods
        .filter((m) => m !== 'HEAD')
        .map((method) => ({ method: method.toLowerCase(), path: String(layer.path) })),
    );
    expect(served.length).to.be.greaterThan(40);
    const missing = served.filter(
      (r) => !r.path.startsWith('/docs/') && spec.paths[template(r.path)]?.[r.method] === undefined,
    );
    expect(missing, 'routes missing from the document').to.deep.equal([]);
    for (const [path, ops] of Object.entries(spec.paths)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops)) {
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path' && p.required === true).map((p) => p.name);
        expect(declared, `${method} ${path}`).to.deep.equal(names);
        expect(op.responses, `${method} ${path}`).to.have.property('default');
      }
    }
  });

  it('documents each route’s query parameters and request body from the schemas that validate them', () => {
    const all = [...extraRoutes];
    expect(all.map((r) => r.path)).to.include.members(['/v1/audit', '/v1/audit/export', '/v1/revocations']);
    const op = (method: string, path: string): Operation => spec.paths[path]![method]!;
    const audit = op('get', '/v1/audit');
    expect(audit.parameters!.map((p) => p.name)).to.include.members([
      'keyId',
      'from',
      'to',
      'type',
      'cursor',
      'limit',
      'order',
    ]);
    const exportOp = op('get', '/v1/audit/export');
    expect(exportOp.parameters!.map((p) => p.name)).to.include.members([
      'format',
      'toPosition',
      'api_token',
      'user_id',
    ]);
    for (const r of all) {
      const o = op(r.method.toLowerCase(), template(r.path));
      expect(
        o.parameters!.filter((p) => p.in === 'query').map((p) => p.name),
        r.path,
      ).to.include.members(Object.keys(r.query ?? {}));
      expect(o.requestBody !== undefined, r.path).to.equal(r.body !== undefined);
    }
    const create = op('post', '/v1/keys').requestBody!;
    const body = (create.content['application/json'] as { schema: Record<string, any> }).schema;
    expect(body.type).to.equal('object');
    expect(body.additionalProperties).to.equal(false);
    expect(body.properties.expiresAt.anyOf[0]).to.include({ type: 'string', format: 'date-time' });
    expect(body.properties.handle).to.include({ type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' });
    const users = (op('post', '/v1/users').requestBody!.content['application/json'] as { schema: Record<string, any> })
      .schema;
    expect(users.required).to.deep.equal(['email', 'name', 'password']);
    expect(users.properties.email).to.include({ format: 'email', maxLength: 320 });
    // Form-encoded where RFC 7662 asks for it, with the same schema.
    const introspect = op('post', '/oauth/introspect').requestBody!.content;
    expect(introspect['application/x-www-form-urlencoded']).to.deep.equal(introspect['application/json']);
  });

  it('tells the truth to clients and linters: security, servers, 4xx answers, free-form objects, OAuth shapes', () => {
    const doc = spec as unknown as Record<string, any>;
    expect(doc.servers).to.deep.equal([{ url: '/', description: 'the server that serves this document' }]);
    const schema = (path: string, method = 'get', status = '200'): Record<string, any> =>
      doc.paths[path][method].responses[status].content['application/json'].schema;
    for (const [path, method] of [
      ['/healthz', 'get'],
      ['/v1/auth/login', 'post'],
      ['/.well-known/jwks.json', 'get'],
      ['/.well-known/oauth-authorization-server', 'get'],
      ['/openapi.json', 'get'],
    ] as const)
      expect(doc.paths[path][method].security, path).to.deep.equal([]);
    expect(doc.paths['/oauth/revoke'].post.security[0]).to.deep.equal({}); // public clients
    expect(doc.paths['/oauth/introspect'].post.security).to.deep.include({ OAuthClient: [] });
    expect(doc.components.securitySchemes.Bearer).to.include({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.OAuthClient).to.include({ type: 'http', scheme: 'basic' });
    for (const [path, ops] of Object.entries(spec.paths))
      for (const [method, op] of Object.entries(ops))
        expect(
          Object.keys(op.responses).some((k) => k.startsWith('4')),
          `${method} ${path}`,
        ).to.equal(true);
    // Free-form members stay free-form; the objects the API fills completely stay closed.
    expect(schema('/.well-known/jwks.json').properties.keys.items.additionalProperties).to.deep.equal({});
    expect(schema('/v1/keys/{idOrHandle}').additionalProperties).to.equal(false);
    const item = schema('/v1/revocations').properties.items.items;
    expect(item.properties).to.have.property('ledgeractor');
    expect(item.additionalProperties).not.to.equal(false);
    expect(Object.keys(schema('/oauth/introspect', 'post').properties)).to.have.length(12);
    expect(doc.paths['/oauth/introspect'].post.responses['401'].content['application/json'].schema).to.deep.equal({
      $ref: '#/components/schemas/OAuthError',
    });
  });
});
