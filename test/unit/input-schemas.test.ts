// The shared input schemas and the zod-issue mapping: every bad value becomes one ValidationError with the field's
// path (`attr`) and a stable code (`required`, `unknown_field`, `invalid`), as the HTTP envelope and the CLI report it.
import { expect } from 'chai';
import { z } from 'zod';
import { ValidationError } from '../../services/domain/errors.js';
import {
  createAccountInput,
  createKeyInput,
  dateTime,
  duration,
  invitationInput,
  policyInput,
} from '../../services/schemas/inputs.js';
import { parseInput } from '../../services/schemas/parse.js';

function problem(schema: z.ZodType, input: unknown): { attr: unknown; code: string } {
  try {
    parseInput(schema, input);
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    const e = err as ValidationError;
    return { attr: e.fields.attr, code: e.code.toLowerCase() };
  }
  throw new Error(`accepted: ${JSON.stringify(input)}`);
}

describe('unit: input schemas and issue mapping', () => {
  it('a missing required field is `required`, named by its path', () => {
    expect(problem(createAccountInput, { name: 'Ann', password: 'x' })).to.deep.equal({
      attr: 'email',
      code: 'required',
    });
    expect(problem(invitationInput, {})).to.deep.equal({ attr: 'email', code: 'required' });
    const nested = z.strictObject({ a: z.strictObject({ b: z.string() }) });
    expect(problem(nested, { a: {} })).to.deep.equal({ attr: 'a.b', code: 'required' });
  });

  it('an unknown field is `unknown_field`, inherited property names included', () => {
    expect(problem(createKeyInput, { name: 'x', colour: 'red' })).to.deep.equal({
      attr: 'colour',
      code: 'unknown_field',
    });
    for (const raw of [
      '{"constructor":1}',
      '{"toString":"y"}',
      '{"__proto__":{"retrievable":true}}',
      '{"hasOwnProperty":1}',
    ]) {
      const attr = Object.keys(JSON.parse(raw) as object)[0];
      expect(problem(policyInput, JSON.parse(raw)), raw).to.deep.equal({ attr, code: 'unknown_field' });
    }
    const nested = z.strictObject({ a: z.strictObject({ b: z.string().optional() }) });
    expect(problem(nested, { a: { c: 1 } })).to.deep.equal({ attr: 'a.c', code: 'unknown_field' });
  });

  it('anything else is `invalid`: wrong type, enum, pattern, length, array element, the whole value', () => {
    expect(problem(createKeyInput, { name: 42 })).to.deep.equal({ attr: 'name', code: 'invalid' });
    expect(problem(createKeyInput, { format: 'rsa' })).to.deep.equal({ attr: 'format', code: 'invalid' });
    expect(problem(createKeyInput, { handle: 'Has Spaces' })).to.deep.equal({ attr: 'handle', code: 'invalid' });
    expect(problem(createKeyInput, { name: 'x'.repeat(201) })).to.deep.equal({ attr: 'name', code: 'invalid' });
    expect(problem(createKeyInput, { scopes: ['a', 'b', 7] })).to.deep.equal({ attr: 'scopes[2]', code: 'invalid' });
    expect(problem(createKeyInput, { scopes: 'keys:read' })).to.deep.equal({ attr: 'scopes', code: 'invalid' });
    expect(problem(createKeyInput, [])).to.deep.equal({ attr: null, code: 'invalid' });
    expect(problem(createKeyInput, null)).to.deep.equal({ attr: null, code: 'invalid' });
    expect(problem(createAccountInput, { email: 'not-an-email', name: 'x', password: 'p' })).to.deep.equal({
      attr: 'email',
      code: 'invalid',
    });
  });

  it('reports what the old validator reported first: a missing field, then the fields in the order they were sent', () => {
    expect(problem(createAccountInput, { colour: 1, name: 5 })).to.deep.equal({ attr: 'email', code: 'required' });
    expect(problem(createKeyInput, { colour: 1, name: 5 })).to.deep.equal({ attr: 'colour', code: 'unknown_field' });
    expect(problem(createKeyInput, { name: 5, colour: 1 })).to.deep.equal({ attr: 'name', code: 'invalid' });
  });

  it('date-times are strict ISO-8601 instants that exist', () => {
    for (const ok of ['2027-02-28T00:00:00Z', '2028-02-29T23:59:59.123+02:00', '2027-01-31T00:00:00'])
      expect(dateTime.safeParse(ok).success, ok).to.equal(true);
    for (const bad of [
      '2027-02-30T00:00:00Z',
      '2027-13-01T00:00:00Z',
      '2027-01-01T24:00:00Z',
      '2027-01-01',
      'tomorrow',
      '',
    ]) {
      expect(dateTime.safeParse(bad).success, bad).to.equal(false);
    }
    expect(problem(createKeyInput, { expiresAt: '2027-02-30T00:00:00Z' })).to.deep.equal({
      attr: 'expiresAt',
      code: 'invalid',
    });
  });

  it('durations are positive whole seconds or a number with a unit', () => {
    for (const ok of [1, 3600, '30d', '12h', '15m', '45s', '2w', '60'])
      expect(duration.safeParse(ok).success, String(ok)).to.equal(true);
    for (const bad of [0, -1, 1.5, '3 weeks', '1y', '', '12345678901d', null])
      expect(duration.safeParse(bad).success, String(bad)).to.equal(false);
  });

  it('gives handlers the parsed, typed value', () => {
    const v = parseInput(createAccountInput, {
      email: 'ann@example.com',
      name: 'Ann',
      password: 'pw',
      role: 'auditor',
      workspaceId: null,
    });
    expect(v).to.deep.equal({
      email: 'ann@example.com',
      name: 'Ann',
      password: 'pw',
      role: 'auditor',
      workspaceId: null,
    });
  });
});
