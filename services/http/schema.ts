// A JSON Schema subset: the same objects validate requests and are published in the OpenAPI document.
import { ValidationError } from '../../events/errors.js';
import { parseIsoInstant } from '../domain/instant.js';

export type Schema =
  | {
      type: 'string';
      minLength?: number;
      maxLength?: number;
      pattern?: string;
      enum?: readonly string[];
      format?: 'date-time' | 'email';
      description?: string;
      nullable?: boolean;
    }
  | { type: 'integer' | 'number'; minimum?: number; maximum?: number; description?: string; nullable?: boolean }
  | { type: 'boolean'; description?: string; nullable?: boolean }
  | { type: 'array'; items: Schema; maxItems?: number; description?: string; nullable?: boolean }
  | { type: 'object'; properties: Record<string, Schema>; required?: readonly string[]; description?: string; nullable?: boolean }
  | { oneOf: readonly Schema[]; description?: string; nullable?: boolean };

export const str = (o: Omit<Extract<Schema, { type: 'string' }>, 'type'> = {}): Schema => ({ type: 'string', ...o });
export const int = (o: Omit<Extract<Schema, { type: 'integer' | 'number' }>, 'type'> = {}): Schema => ({ type: 'integer', ...o });
export const bool = (o: { description?: string } = {}): Schema => ({ type: 'boolean', ...o });
export const arr = (items: Schema, o: { maxItems?: number; description?: string } = {}): Schema => ({ type: 'array', items, ...o });
export const obj = (properties: Record<string, Schema>, required: readonly string[] = [], o: { description?: string } = {}): Schema => ({
  type: 'object',
  properties,
  required,
  ...o,
});
export const nullable = (s: Schema): Schema => ({ ...s, nullable: true });

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

function fail(path: string, message: string, code = 'invalid'): never {
  throw new ValidationError(path === '' ? null : path, message, code);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Validates `value` against `schema`; unknown object properties are refused so typos never pass silently. */
export function validate(schema: Schema, value: unknown, path = ''): void {
  if (value === null && schema.nullable) return;
  if ('oneOf' in schema) {
    for (const s of schema.oneOf) {
      try {
        validate(s, value, path);
        return;
      } catch {
        /* try the next alternative */
      }
    }
    fail(path, `${path || 'value'} does not match any allowed form`);
  }
  switch (schema.type) {
    case 'string': {
      if (typeof value !== 'string') fail(path, `${path} must be a string, got ${typeName(value)}`);
      if (schema.enum && !schema.enum.includes(value)) fail(path, `${path} must be one of ${schema.enum.join(', ')}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) fail(path, `${path} must be at least ${schema.minLength} characters`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) fail(path, `${path} must be at most ${schema.maxLength} characters`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) fail(path, `${path} has an invalid format`);
      // Strict: 2027-02-30 is refused, not rolled over to 2 March.
      if (schema.format === 'date-time' && parseIsoInstant(value) === null)
        fail(path, `${path} must be an ISO-8601 date-time that exists (e.g. 2027-01-31T00:00:00Z)`);
      if (schema.format === 'email' && !EMAIL_RE.test(value)) fail(path, `${path} must be an e-mail address`);
      return;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, `${path} must be a number, got ${typeName(value)}`);
      if (schema.type === 'integer' && !Number.isInteger(value)) fail(path, `${path} must be a whole number`);
      if (schema.minimum !== undefined && value < schema.minimum) fail(path, `${path} must be ≥ ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) fail(path, `${path} must be ≤ ${schema.maximum}`);
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail(path, `${path} must be true or false, got ${typeName(value)}`);
      return;
    case 'array': {
      if (!Array.isArray(value)) fail(path, `${path} must be an array, got ${typeName(value)}`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(path, `${path} may hold at most ${schema.maxItems} items`);
      value.forEach((v, i) => validate(schema.items, v, `${path}[${i}]`));
      return;
    }
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, `${path || 'body'} must be a JSON object, got ${typeName(value)}`);
      const rec = value as Record<string, unknown>;
      // Own properties only: "constructor", "toString" or "__proto__" must not match Object.prototype members.
      for (const k of schema.required ?? [])
        if (!Object.hasOwn(rec, k) || rec[k] === undefined) fail(join(path, k), `${join(path, k)} is required`, 'required');
      for (const [k, v] of Object.entries(rec)) {
        if (!Object.hasOwn(schema.properties, k)) fail(join(path, k), `${join(path, k)} is not a known field`, 'unknown_field');
        if (v !== undefined) validate(schema.properties[k]!, v, join(path, k));
      }
      return;
    }
  }
}

function join(path: string, k: string): string {
  return path === '' ? k : `${path}.${k}`;
}

/** OpenAPI 3.1 form of a schema (`nullable` becomes a type union). */
export function toOpenApi(schema: Schema): Record<string, unknown> {
  const { nullable: isNullable, ...rest } = schema;
  let out: Record<string, unknown>;
  if ('oneOf' in rest) out = { ...rest, oneOf: rest.oneOf.map(toOpenApi) };
  else if (rest.type === 'array') out = { ...rest, items: toOpenApi(rest.items) };
  else if (rest.type === 'object') {
    out = { ...rest, additionalProperties: false, properties: Object.fromEntries(Object.entries(rest.properties).map(([k, v]) => [k, toOpenApi(v)])) };
    if ((rest.required ?? []).length === 0) delete out.required;
  } else out = { ...rest };
  if (isNullable && 'type' in out) out.type = [out.type, 'null'];
  return out;
}
