// OpenAPI 3.1 generated from the route table, i.e. from the zod schemas that validate requests (z.toJSONSchema, draft 2020-12).
import { z } from 'zod';
import type { AnyRoute } from './route.js';
import { OAUTH_PREFIX } from './errors.js';
import { errorSchema, oauthErrorSchema } from './views.js';

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

const errorRef = (path: string): Record<string, unknown> => ({
  $ref: `#/components/schemas/${path.startsWith(OAUTH_PREFIX) ? 'OAuthError' : 'Error'}`,
});

const errorResponse = (path: string, description: string): Record<string, unknown> => ({
  description,
  content: { 'application/json': { schema: errorRef(path) } },
});

// The presentations a route that needs a caller accepts, as Swagger UI's Authorize dialog and generators see them.
const CALLER_SECURITY: Array<Record<string, string[]>> = [
  { Bearer: [] },
  { 'Api-Key': [] },
  { APIToken: [] },
  { 'API-KEY': [] },
];

function security(r: AnyRoute): Array<Record<string, string[]>> {
  switch (r.auth) {
    case 'none':
      return [];
    case 'required':
      return [...CALLER_SECURITY, ...(r.urlToken ? [{ api_token: [] }] : [])];
    case 'oauth-client':
      return [{ OAuthClient: [] }, ...CALLER_SECURITY];
    case 'oauth-public':
      return [{}, { OAuthClient: [] }, ...CALLER_SECURITY];
  }
}

/** The 4xx answers every route can give, from what it takes: a body or parameters, a caller, path parameters. */
function clientErrors(r: AnyRoute, hasPathParams: boolean): Record<string, string> {
  const out: Record<string, string> = { 400: 'invalid input: an unknown or malformed parameter or body' };
  if (r.auth === 'required' || r.auth === 'oauth-client') {
    out[401] = 'no credential, or one that is not valid';
    out[403] = 'the credential may not do this';
  } else if (r.auth === 'oauth-public') out[401] = 'the client credentials sent are not valid';
  if (hasPathParams) out[404] = 'no such resource, or one the caller may not see';
  return out;
}

export function buildOpenApi(routes: readonly AnyRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
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
      const types = typeof resp.contentType === 'string' ? [resp.contentType] : (resp.contentType ?? []);
      if (resp.schema) {
        const schema = jsonSchema(resp.schema, 'output');
        const content = Object.fromEntries(
          (types.length > 0 ? types : ['application/json']).map((t) => [t, { schema }]),
        );
        responses[status] = { description: resp.description, content };
      } else if (types.length > 0)
        responses[status] = { description: resp.description, content: Object.fromEntries(types.map((t) => [t, {}])) };
      else if (Number(status) >= 400) responses[status] = errorResponse(path, resp.description);
      else responses[status] = { description: resp.description };
    }
    for (const [status, description] of Object.entries(clientErrors(r, params.length > 0)))
      responses[status] ??= errorResponse(path, description);
    responses.default = errorResponse(path, 'error');
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      parameters: [...params, ...query],
      responses,
      security: security(r),
    };
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
      security: [],
      responses: {
        200: { description: 'the OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } },
        405: errorResponse('/openapi.json', 'a method other than GET'),
        default: errorResponse('/openapi.json', 'error'),
      },
    },
  };
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'token-ledger',
      version: '0.1.0',
      description:
        'Event-sourced API tokens: create, use, expire and revoke, every fact kept as an event. ' +
        'Errors use one envelope (`Error`); the OAuth endpoints under /oauth/ answer RFC 6749 errors (`OAuthError`).',
    },
    servers: [{ url: '/', description: 'the server that serves this document' }],
    paths,
    components: {
      schemas: { Error: jsonSchema(errorSchema, 'output'), OAuthError: jsonSchema(oauthErrorSchema, 'output') },
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

// What each Authorize field of Swagger UI sends; the descriptions say what to type there.
const SECURITY_SCHEMES = {
  Bearer: {
    type: 'http',
    scheme: 'bearer',
    description:
      'Paste the token alone (a session JWT from POST /v1/auth/login, or an API key): `Bearer ` is added for you. ' +
      'Typed with its scheme ("Bearer <token>", "APIToken <token>"), it still works: the server reads the header ' +
      'this field sends, `Bearer Bearer <token>`, as `Bearer <token>`.',
  },
  'Api-Key': {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description:
      'Type the whole header value, scheme and token: `Api-Key <token>` (or `Bearer <token>`, `APIToken <token>`). ' +
      'A generated client must be given the same value: the token alone is refused.',
  },
  APIToken: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description: 'Type the whole header value, scheme and token: `APIToken <token>`.',
  },
  'API-KEY': {
    type: 'apiKey',
    in: 'header',
    name: 'API-KEY',
    description: 'The token alone, in its own header.',
  },
  api_token: {
    type: 'apiKey',
    in: 'query',
    name: 'api_token',
    description: 'The token in the URL: only exports and feeds take it.',
  },
  OAuthClient: {
    type: 'http',
    scheme: 'basic',
    description:
      'OAuth client authentication on /oauth/ (RFC 6749 §2.3.1): the client id is a key id, the password that key’s ' +
      'token. client_id and client_secret in the form body work too (client_secret_post).',
  },
};
