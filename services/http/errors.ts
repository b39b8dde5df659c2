// The one error envelope (seed 001) and the mapping from stable codes to HTTP statuses.
import type { Context, Next } from 'koa';
import { LedgerError } from '../../events/errors.js';
import type { ErrorCode } from '../domain/errors.js';

export type ErrorType = 'client_error' | 'validation_error' | 'server_error';

export interface ErrorItem {
  code: string;
  detail: string;
  attr: string | null;
  extra: Record<string, unknown> | null;
}

export interface Envelope {
  type: ErrorType;
  errors: ErrorItem[];
}

/** An error meant for the HTTP client, with its status and public code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly opts: {
      attr?: string | null;
      extra?: Record<string, unknown> | null;
      type?: ErrorType;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(detail);
  }
}

export const INVALID_TOKEN_DETAIL = 'The provided token is expired or invalid.';

export function invalidToken(): HttpError {
  return new HttpError(401, 'invalid_token', INVALID_TOKEN_DETAIL, {
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
  });
}

export function authRequired(): HttpError {
  return new HttpError(401, 'not_authenticated', 'Authentication credentials were not provided.', {
    headers: { 'WWW-Authenticate': 'Bearer' },
  });
}

export function permissionDenied(permission: string): HttpError {
  return new HttpError(403, 'permission_denied', `You do not have permission to perform this action (${permission}).`, {
    extra: { permission },
  });
}

/** Every code the ledger raises has its status here: a new code that is not given one fails to compile. */
const STATUS_BY_CODE = {
  // 400: the request asked for something the rules refuse
  INVALID: 400,
  REQUIRED: 400,
  UNKNOWN_FIELD: 400,
  INVALID_EMAIL: 400,
  INVALID_TEXT: 400,
  INVALID_HANDLE: 400,
  INVALID_DATE: 400,
  INVALID_ROLE: 400,
  INVALID_SYSTEM_ROLE: 400,
  INVALID_REASON: 400,
  INVALID_FORMAT: 400,
  INVALID_SCOPE: 400,
  INVALID_POLICY: 400,
  INVALID_GRACE: 400,
  WEAK_PASSWORD: 400,
  // A store position it never handed out (e.g. an EventStoreDB byte offset inside a record): the client's mistake.
  INVALID_POSITION: 400,
  USER_INACTIVE: 400,
  NO_WORKSPACE: 400,
  NOT_A_MEMBER: 400,
  KEY_NOT_RETRIEVABLE: 400,
  SCOPE_NOT_HELD: 400,
  EXPIRY_REQUIRED: 400,
  EXPIRY_IN_PAST: 400,
  EXPIRY_TOO_FAR: 400,
  EXPIRY_BEYOND_POLICY: 400,
  EXPIRY_IMMUTABLE: 400,
  EXPIRY_AMBIGUOUS: 400,
  GRACE_TOO_LONG: 400,
  // 403: the policy refused
  PERMISSION_DENIED: 403,
  SESSION_REQUIRED: 403,
  CONSENT_REQUIRED: 403,
  EXCEEDS_CREDENTIAL: 403,
  // 404
  NOT_FOUND: 404,
  INVITATION_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  WORKSPACE_NOT_FOUND: 404,
  // 409: the state conflicts with the request
  INVITATION_PENDING: 409,
  INVITATION_EXPIRED: 409,
  ALREADY_A_MEMBER: 409,
  HANDLE_TAKEN: 409,
  EMAIL_TAKEN: 409,
  CONCURRENCY: 409,
  KEY_EXISTS: 409,
  USER_EXISTS: 409,
  WORKSPACE_EXISTS: 409,
  KEY_ALREADY_ROTATED: 409,
  KEY_REVOKED: 409,
  KEY_EXPIRED: 409,
  LAST_OWNER: 409,
  IDEMPOTENCY_CONFLICT: 409,
  VALUE_TAKEN: 409,
  STORE_UNAVAILABLE: 503,
  // Key material problems are the operator's, not the client's: a plain 500, details in the log only.
  MASTER_KEY_MISMATCH: 500,
  SEALED_SECRET_CORRUPT: 500,
} as const satisfies Record<ErrorCode, number>;

/** The status of a coded error; a code outside the union (impossible by its types) is a bug: a logged 500. */
export function statusOf(code: string): number {
  return Object.hasOwn(STATUS_BY_CODE, code) ? STATUS_BY_CODE[code as ErrorCode] : 500;
}

function envelope(type: ErrorType, item: ErrorItem): Envelope {
  return { type, errors: [item] };
}

export function toResponse(err: unknown): {
  status: number;
  body: Envelope;
  headers: Record<string, string>;
  internal: boolean;
} {
  if (err instanceof HttpError) {
    const type = err.opts.type ?? (err.status >= 500 ? 'server_error' : 'client_error');
    return {
      status: err.status,
      body: envelope(type, {
        code: err.code,
        detail: err.detail,
        attr: err.opts.attr ?? null,
        extra: err.opts.extra ?? null,
      }),
      headers: err.opts.headers ?? {},
      internal: false,
    };
  }
  if (err instanceof LedgerError) {
    const status = statusOf(err.code);
    if (status === 503) {
      return {
        status,
        body: envelope('server_error', {
          code: 'service_unavailable',
          detail: 'The service is temporarily unavailable; retry later.',
          attr: null,
          extra: null,
        }),
        headers: err.retriable ? { 'Retry-After': '1' } : {},
        internal: true,
      };
    }
    if (status >= 500) return internalError();
    const attr = typeof err.fields.attr === 'string' ? err.fields.attr : null;
    const isValidation = err.name === 'ValidationError' || (status === 400 && attr !== null);
    const extra = Object.fromEntries(
      Object.entries(err.fields).filter(([k]) => k !== 'attr' && k !== 'streamId' && k !== 'what'),
    );
    return {
      status,
      body: envelope(isValidation ? 'validation_error' : 'client_error', {
        code: err.code.toLowerCase(),
        detail: err.message,
        attr,
        extra: Object.keys(extra).length > 0 && status !== 409 ? extra : null,
      }),
      headers: {},
      internal: false,
    };
  }
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
    const code =
      status === 413
        ? 'payload_too_large'
        : status === 415
          ? 'unsupported_media_type'
          : status === 405
            ? 'method_not_allowed'
            : 'bad_request';
    return {
      status,
      body: envelope('client_error', { code, detail: (err as Error).message, attr: null, extra: null }),
      headers: {},
      internal: false,
    };
  }
  return internalError();
}

function internalError(): ReturnType<typeof toResponse> {
  return {
    status: 500,
    body: envelope('server_error', {
      code: 'internal_error',
      detail: 'An internal error occurred.',
      attr: null,
      extra: null,
    }),
    headers: {},
    internal: true,
  };
}

/** Everything under /oauth/ answers RFC 6749 §5.2 error bodies instead of the envelope. */
export const OAUTH_PREFIX = '/oauth/';

/** RFC 6749 §5.2 (and RFC 7009 §2.2.1) error codes the OAuth endpoints answer with. */
export const OAUTH_ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'unauthorized_client',
  'unsupported_token_type',
  'server_error',
  'temporarily_unavailable',
] as const;
export type OAuthErrorCode = (typeof OAUTH_ERROR_CODES)[number];
const OAUTH_CODES: ReadonlySet<string> = new Set(OAUTH_ERROR_CODES);

function oauthCode(status: number, code: string): OAuthErrorCode {
  if (OAUTH_CODES.has(code)) return code as OAuthErrorCode;
  if (status === 401) return 'invalid_client';
  if (status === 403) return 'unauthorized_client';
  if (status === 503) return 'temporarily_unavailable';
  return status >= 500 ? 'server_error' : 'invalid_request';
}

// RFC 6749 §5.2 allows only printable ASCII other than '"' and '\\' in error_description.
const printable = (s: string): string => s.replace(/[^\x20-\x7e]|["\\]/g, (c) => (c === '"' ? "'" : '?'));

/** The same error as an RFC 6749 §5.2 body; a failed client authentication also challenges for Basic. */
export function toOAuthResponse(err: unknown): {
  status: number;
  body: { error: OAuthErrorCode; error_description: string };
  headers: Record<string, string>;
  internal: boolean;
} {
  const r = toResponse(err);
  const item = r.body.errors[0]!;
  const error = oauthCode(r.status, item.code);
  const headers = { ...r.headers };
  if (error === 'invalid_client') {
    const bearer = headers['WWW-Authenticate'];
    const basic = 'Basic realm="token-ledger", charset="UTF-8"';
    headers['WWW-Authenticate'] = bearer?.startsWith('Bearer') ? `${basic}, ${bearer}` : basic;
  }
  return {
    status: r.status,
    internal: r.internal,
    headers,
    body: { error, error_description: printable(item.detail) },
  };
}

/** Maps every thrown error to the envelope (an OAuth error body under /oauth/); 5xx details go to the log only. */
export function errorMiddleware(log: (err: unknown, ctx: Context) => void) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined)
        throw new HttpError(404, 'not_found', `No route for ${ctx.method} ${ctx.path}.`);
    } catch (err) {
      const r = ctx.path.startsWith(OAUTH_PREFIX) ? toOAuthResponse(err) : toResponse(err);
      if (r.internal) log(err, ctx);
      ctx.status = r.status;
      for (const [k, v] of Object.entries(r.headers)) ctx.set(k, v);
      ctx.body = r.body;
    }
  };
}
