// Every response an e2e test receives is checked against the server's own OpenAPI document (Ajv, draft 2020-12).
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type Json = Record<string, unknown>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json> };
}

export class ContractError extends Error {
  override name = 'ContractError';
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const compiled = new Map<string, ValidateFunction>();

/** The schema with every `#/components/schemas/X` reference replaced by X itself (the document has no recursive schemas). */
function inline(schema: unknown, doc: OpenApiDoc): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inline(s, doc));
  if (schema === null || typeof schema !== 'object') return schema;
  const ref = (schema as Json).$ref;
  if (typeof ref === 'string') {
    const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
    const target = name === undefined ? undefined : doc.components.schemas[name];
    if (target === undefined) throw new ContractError(`unresolvable $ref ${ref}`);
    return inline(target, doc);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inline(v, doc)]));
}

function validatorFor(schema: Json, doc: OpenApiDoc): ValidateFunction {
  const resolved = inline(schema, doc) as Json;
  const key = JSON.stringify(resolved);
  let v = compiled.get(key);
  if (v === undefined) {
    v = ajv.compile(resolved);
    compiled.set(key, v);
  }
  return v;
}

/** The documented operation for a concrete path: literal segments win over templated ones. */
function findOperation(doc: OpenApiDoc, method: string, path: string): Operation | undefined {
  const segments = path.split('/');
  let best: { op: Operation; literals: number } | undefined;
  for (const [template, ops] of Object.entries(doc.paths)) {
    const op = ops[method.toLowerCase()];
    const parts = template.split('/');
    if (op === undefined || parts.length !== segments.length) continue;
    let literals = 0;
    const fits = parts.every((p, i) => {
      if (p.startsWith('{') && p.endsWith('}')) return segments[i] !== '';
      if (p !== segments[i]) return false;
      literals++;
      return true;
    });
    if (fits && (best === undefined || literals > best.literals)) best = { op, literals };
  }
  return best?.op;
}

const mediaType = (header: string | null): string => (header ?? '').split(';')[0]!.trim().toLowerCase();

function mediaMatches(range: string, type: string): boolean {
  if (range === '*/*' || range === type) return true;
  return range.endsWith('/*') && type.startsWith(range.slice(0, -1));
}

/**
 * Throws a ContractError unless the response is what the document promises for this method and path: a documented
 * status (or `default`), a documented media type, and a body valid against its schema. Requests the document has no
 * operation for (unknown paths, unserved methods) must answer with the error schema the server uses there.
 */
export function checkResponse(
  doc: OpenApiDoc,
  req: { method: string; path: string },
  res: { status: number; contentType: string | null; text: string },
): void {
  const where = `${req.method} ${req.path} → ${res.status}`;
  const type = mediaType(res.contentType);
  const op = findOperation(doc, req.method === 'HEAD' ? 'GET' : req.method, req.path);
  let def: { content?: Record<string, { schema?: Json }> } | undefined;
  // OPTIONS on any served path answers 204 with Allow (app.ts); it is HTTP plumbing, not an operation.
  if (req.method === 'OPTIONS' && res.status === 204) return;
  // The console's pages and assets are served beside the API, not described by it (their CSP is tested instead).
  if (req.path === '/console' || req.path.startsWith('/console/')) return;
  if (op === undefined) {
    if (res.status < 400) throw new ContractError(`${where}: no documented operation`);
    const error = req.path.startsWith('/oauth/') ? 'OAuthError' : 'Error';
    def = { content: { 'application/json': { schema: { $ref: `#/components/schemas/${error}` } } } };
  } else {
    const status = String(res.status);
    def = op.responses[status] ?? op.responses[`${status[0]}XX`] ?? op.responses.default;
    if (def === undefined) throw new ContractError(`${where}: status not documented`);
  }
  if (req.method === 'HEAD' || res.status === 204 || res.status === 304) return;
  if (def.content === undefined) {
    if (res.text !== '') throw new ContractError(`${where}: documented without a body, but sent ${type}`);
    return;
  }
  const range = Object.keys(def.content).find((r) => mediaMatches(r, type));
  if (range === undefined)
    throw new ContractError(`${where}: ${type || 'no content type'} not among ${Object.keys(def.content).join(', ')}`);
  const schema = def.content[range]!.schema;
  if (schema === undefined || type !== 'application/json') return;
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    throw new ContractError(`${where}: the body is not JSON`);
  }
  const validate = validatorFor(schema, doc);
  if (!validate(body))
    throw new ContractError(
      `${where}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${res.text.slice(0, 800)}`,
    );
}

const documents = new Map<string, OpenApiDoc>();

/** Registers the document a server (by origin) answers to; its responses are checked from then on. */
export function registerContract(origin: string, doc: OpenApiDoc): void {
  documents.set(new URL(origin).origin, doc);
}

export function forgetContract(origin: string): void {
  documents.delete(new URL(origin).origin);
}

export async function loadContract(origin: string): Promise<OpenApiDoc> {
  const r = await fetch(new URL('/openapi.json', origin));
  if (r.status !== 200) throw new ContractError(`GET /openapi.json answered ${r.status}`);
  const doc = (await r.json()) as OpenApiDoc;
  registerContract(origin, doc);
  return doc;
}

/**
 * fetch, with every response from a registered server checked against its document before the caller sees it.
 * Streams (text/event-stream) are checked for status and media type only: their bodies never end.
 */
export const checkedFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  const res = await fetch(request);
  if (!documents.has(new URL(request.url).origin)) return res;
  const contentType = res.headers.get('content-type');
  const streaming = mediaType(contentType) === 'text/event-stream';
  const text = streaming ? '' : await res.clone().text();
  checkRegistered(request, { status: res.status, contentType, text });
  return res;
};

/** checkResponse against the document registered for the request's server, if any. */
export function checkRegistered(
  req: { method: string; url: string },
  res: { status: number; contentType: string | null; text: string },
): void {
  const url = new URL(req.url);
  const doc = documents.get(url.origin);
  if (doc !== undefined) checkResponse(doc, { method: req.method, path: url.pathname }, res);
}
