// Request validation with the routes' zod schemas; a bad body or parameter is a 400 validation_error naming it (`attr`).
import { z } from 'zod';
import { parseInput } from '../schemas/parse.js';
import { HttpError } from './errors.js';
import type { QueryShape } from './route.js';

/** Credentials ride in these parameters on the routes that allow it; they are the authenticator's, not the handler's. */
const CREDENTIAL_PARAMS: ReadonlySet<string> = new Set(['api_token', 'user_id']);

/** The body as the schema describes it, or a ValidationError (`required`, `unknown_field` or `invalid`, with its path). */
export function validateBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  return parseInput(schema, body);
}

/**
 * A validator for one route's query string: an unknown parameter is `unknown_parameter`, a repeated one `invalid`, and
 * each value must match its schema. Built once per route.
 */
export function queryValidator(
  shape: QueryShape | undefined,
): (raw: Record<string, string | string[] | undefined>) => Record<string, string> {
  const known = shape ?? {};
  const schema = z.strictObject(Object.fromEntries(Object.entries(known).map(([k, s]) => [k, s.optional()])));
  return (raw) => {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (CREDENTIAL_PARAMS.has(k)) continue;
      // Own keys only: "constructor" or "__proto__" must not match Object.prototype members.
      if (!Object.hasOwn(known, k))
        throw new HttpError(400, 'unknown_parameter', `Unknown query parameter ${k}.`, {
          attr: k,
          type: 'validation_error',
        });
      if (typeof v !== 'string')
        throw new HttpError(400, 'invalid', `Query parameter ${k} may appear once.`, {
          attr: k,
          type: 'validation_error',
        });
      query[k] = v;
    }
    return parseInput(schema, query) as Record<string, string>;
  };
}
