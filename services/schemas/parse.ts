// Runs a zod schema and turns its first issue into the one stable ValidationError every entry point reports.
import type { z } from 'zod';
import { ValidationError, type ValidationErrorCode } from '../domain/errors.js';

export interface Problem {
  /** The field path (`scopes[2]`, `a.b`), or null for the value as a whole. */
  readonly attr: string | null;
  /** `required` (a missing field), `unknown_field` (a field the schema does not know) or `invalid`. */
  readonly code: 'required' | 'unknown_field' | 'invalid';
  readonly detail: string;
}

type Path = ReadonlyArray<PropertyKey>;

function pathText(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/** The value at `path` inside `input`, and whether it is there at all (own properties only: "constructor" is not a field). */
function lookup(input: unknown, path: Path): { present: boolean; value: unknown } {
  let v = input;
  for (const p of path) {
    if (typeof v !== 'object' || v === null || typeof p === 'symbol' || !Object.hasOwn(v, p))
      return { present: false, value: undefined };
    v = (v as Record<string | number, unknown>)[p];
  }
  return { present: v !== undefined, value: v };
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function toProblem(issue: z.core.$ZodIssue, input: unknown): Problem {
  if (issue.code === 'unrecognized_keys') {
    const attr = pathText([...issue.path, issue.keys[0] ?? '']);
    return { attr, code: 'unknown_field', detail: `${attr} is not a known field` };
  }
  const attr = issue.path.length === 0 ? null : pathText(issue.path);
  const at = lookup(input, issue.path);
  if (attr !== null && !at.present) return { attr, code: 'required', detail: `${attr} is required` };
  if (issue.code === 'invalid_type') {
    const expected =
      issue.expected === 'object'
        ? 'a JSON object'
        : issue.expected === 'int'
          ? 'a whole number'
          : `a ${issue.expected}`;
    return { attr, code: 'invalid', detail: `${attr ?? 'body'} must be ${expected}, got ${typeName(at.value)}` };
  }
  if (issue.code === 'invalid_value')
    return {
      attr,
      code: 'invalid',
      detail: `${attr ?? 'value'} must be one of ${issue.values.map(String).join(', ')}`,
    };
  return { attr, code: 'invalid', detail: `${attr ?? 'value'}: ${issue.message}` };
}

/**
 * The issue a person should fix first, as the hand-written validator reported it: a missing required field, then the
 * fields in the order they were sent (an unknown one or an invalid one, whichever comes first).
 */
export function firstProblem(issues: readonly z.core.$ZodIssue[], input: unknown): Problem {
  const problems = issues.map((i) => ({ i, p: toProblem(i, input) }));
  const required = problems.find((x) => x.p.code === 'required');
  if (required) return required.p;
  const order = typeof input === 'object' && input !== null && !Array.isArray(input) ? Object.keys(input) : [];
  const rank = (i: z.core.$ZodIssue): number => {
    const top = i.path[0] ?? (i.code === 'unrecognized_keys' ? i.keys[0] : undefined);
    const n = typeof top === 'string' ? order.indexOf(top) : -1;
    return n < 0 ? order.length : n;
  };
  const first = problems.reduce((a, b) => (rank(b.i) < rank(a.i) ? b : a));
  return first.p;
}

// Error codes are UPPER_SNAKE (services/domain/errors.ts); the wire shows them lower-case, as the problem names them.
const ERROR_CODE = {
  required: 'REQUIRED',
  unknown_field: 'UNKNOWN_FIELD',
  invalid: 'INVALID',
} as const satisfies Record<Problem['code'], ValidationErrorCode>;

/** The parsed value, or a ValidationError naming the first problem (`attr`, code `required` | `unknown_field` | `invalid`). */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const p = firstProblem(r.error.issues, input);
  throw new ValidationError(p.attr, p.detail, ERROR_CODE[p.code]);
}
