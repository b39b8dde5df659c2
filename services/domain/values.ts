// Value rules every decider enforces, so no entry point (HTTP, CLI, anything later) can record an invalid fact.
import { DomainError, type DomainErrorCode } from './errors.js';

export const NAME_MAX = 200;
export const DESCRIPTION_MAX = 1000;
export const EMAIL_MAX = 320;
export const REASON_MAX = 500;
export const HANDLE_PATTERN = '^[a-z0-9][a-z0-9._-]{0,62}$';
const HANDLE_RE = new RegExp(HANDLE_PATTERN);
// Linear: each part is a run of one character class, separated by a single '@'.
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@.][^\s@]{0,254}$/;

function invalid(code: DomainErrorCode, attr: string, message: string): never {
  throw new DomainError(code, message, { attr });
}

export function isEmail(x: unknown): x is string {
  return typeof x === 'string' && x.length <= EMAIL_MAX && EMAIL_RE.test(x);
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function requireEmail(x: unknown, attr = 'email'): string {
  if (!isEmail(x)) invalid('INVALID_EMAIL', attr, `${attr} must be an e-mail address such as ann@example.com`);
  return x;
}

/** A display name: 1–max characters, not only white space. */
export function requireText(x: unknown, attr: string, max = NAME_MAX): string {
  if (typeof x !== 'string' || x.trim() === '' || x.length > max)
    invalid('INVALID_TEXT', attr, `${attr} must be 1 to ${max} characters`);
  return x;
}

export function requireOptionalText(x: unknown, attr: string, max: number): string | null {
  if (x === null || x === undefined) return null;
  if (typeof x !== 'string' || x.length > max)
    invalid('INVALID_TEXT', attr, `${attr} must be at most ${max} characters`);
  return x;
}

export function requireHandle(x: unknown, attr = 'handle'): string | null {
  if (x === null || x === undefined) return null;
  if (typeof x !== 'string' || !HANDLE_RE.test(x))
    invalid('INVALID_HANDLE', attr, `${attr} must be lower-case letters, digits, '.', '_' or '-' (1–63)`);
  return x;
}

/** A real instant: an invalid Date (e.g. from an impossible calendar date) never becomes a fact. */
export function requireInstant(x: unknown, attr: string): Date {
  if (!(x instanceof Date) || Number.isNaN(x.getTime()))
    invalid('INVALID_DATE', attr, `${attr} must be a valid date-time`);
  return x;
}

export function requireOneOf<T extends string>(
  x: unknown,
  allowed: readonly T[],
  attr: string,
  code: DomainErrorCode,
): T {
  if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x))
    invalid(code, attr, `${attr} must be one of ${allowed.join(', ')}`);
  return x as T;
}
