// OpenAPI 3.1 generated from the route table, i.e. from the zod schemas that validate requests (z.toJSONSchema, draft 2020-12).
import { z } from 'zod';
import type { AnyRoute } from './route.js';
import { errorSchema } from './views.js';

type JsonSchema = Record<string, unknown>;

/**
 * A schema object for the document: requests as they are accepted (`input`), responses as they are written (`output`).
 * Reused schemas are inlined, so each operation reads on its own.
 */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    reused: 'inline',
    // JavaScript's safe-integer bounds on every integer are noise to a reader: a JSON integer is meant.
    override: ({ jsonSchema: s }) => {
      if (s.type !== 'integer') return;
      if (s.minimum === Number.MIN_SAFE_INTEGER) delete s.minimum;
      if (s.maximum === Number.MAX_SAFE_INTEGER) delete s.maximum;
    },
  }) as JsonSchema;
  delete out.$schema; // the document's jsonSchemaDialect already says which draft
  return out;
}

export function buildOpenApi(routes: readonly AnyRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (r.path.startsWith('/docs/')) continue;
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query: Array<Record<string, unknown>> = Object.entries(r.query ?? {}).map(([name, s]) => {
      return { name, in: 'query', required: false, schema: jsonSchema(s, 'input') };
    });
    if (r.urlToken) {
      query.push({ name: 'api_token', in: 'query', required: false, schema: { type: 'string' } });
      query.push({ name: 'user_id', in: 'query', required: false, schema: { type: 'string' } });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      responses[status] = resp.schema
        ? {
            description: resp.description,
            content: { [resp.contentType ?? 'application/json']: { schema: jsonSchema(resp.schema, 'output') } },
          }
        : { description: resp.description };
    }
    responses.default = {
      description: 'error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      parameters: [...params, ...query],
      responses,
    };
    if (r.auth === 'required') {
      op.security = [
        { bearer: [] },
        { apiKeyScheme: [] },
        { apiToken: [] },
        { apiKeyHeader: [] },
        ...(r.urlToken ? [{ apiTokenQuery: [] }] : []),
      ];
    }
    if (r.body) {
      const schema = jsonSchema(r.body, 'input');
      const content: Record<string, unknown> = { 'application/json': { schema } };
      if (r.form) content['application/x-www-form-urlencoded'] = { schema };
      op.requestBody = { required: r.bodyRequired !== false, content };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  // Served by the app itself (app.ts), not the route table: listed so the document names every route.
  paths['/openapi.json'] = {
    get: {
      summary: 'This document (OpenAPI 3.1)',
      tags: ['operations'],
      operationId: 'getOpenapiJson',
      parameters: [],
      responses: {
        200: { description: 'the OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } },
        default: {
          description: 'error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    },
  };
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'token-ledger',
      version: '0.1.0',
      description: 'Event-sourced API tokens: create, use, expire and revoke, every fact kept as an event.',
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'Session JWT from /v1/auth/login, a JWT-format key, or an opaque key',
        },
        apiKeyScheme: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'Authorization: Api-Key <token>',
        },
        apiToken: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'Authorization: APIToken <token>',
        },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'API-KEY' },
        apiTokenQuery: { type: 'apiKey', in: 'query', name: 'api_token', description: 'only on exports and feeds' },
      },
    },
  };
}
