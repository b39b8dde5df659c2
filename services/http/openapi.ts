// OpenAPI 3.1 generated from the route table, i.e. from the schemas that validate requests.
import type { RouteDef } from './route.js';
import { toOpenApi } from './schema.js';
import { errorSchema } from './views.js';

export function buildOpenApi(routes: RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (r.path.startsWith('/docs/')) continue;
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = Object.entries(r.query ?? {}).map(([name, s]) => ({ name, in: 'query', required: false, schema: toOpenApi(s) }));
    if (r.urlToken) {
      query.push({ name: 'api_token', in: 'query', required: false, schema: { type: 'string' } });
      query.push({ name: 'user_id', in: 'query', required: false, schema: { type: 'string' } });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      responses[status] = resp.schema
        ? { description: resp.description, content: { [resp.contentType ?? 'application/json']: { schema: toOpenApi(resp.schema) } } }
        : { description: resp.description };
    }
    responses.default = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      parameters: [...params, ...query],
      responses,
    };
    if (r.auth === 'required') {
      op.security = [{ bearer: [] }, { apiKeyScheme: [] }, { apiToken: [] }, { apiKeyHeader: [] }, ...(r.urlToken ? [{ apiTokenQuery: [] }] : [])];
    }
    if (r.body) {
      const content: Record<string, unknown> = { 'application/json': { schema: toOpenApi(r.body) } };
      if (r.form) content['application/x-www-form-urlencoded'] = { schema: toOpenApi(r.body) };
      op.requestBody = { required: r.bodyRequired !== false, content };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'token-ledger', version: '0.1.0', description: 'Event-sourced API tokens: create, use, expire and revoke, every fact kept as an event.' },
    paths,
    components: {
      schemas: { Error: toOpenApi(errorSchema) },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Session JWT from /v1/auth/login, a JWT-format key, or an opaque key' },
        apiKeyScheme: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Authorization: Api-Key <token>' },
        apiToken: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Authorization: APIToken <token>' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'API-KEY' },
        apiTokenQuery: { type: 'apiKey', in: 'query', name: 'api_token', description: 'only on exports and feeds' },
      },
    },
  };
}
