// The console's only door to the service: the public HTTP API, with the session as a Bearer header.
// Errors come back as ApiError built from the API's envelope; a 401 on a session means it has ended.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly attr: string | null = null,
  ) {
    super(message);
  }
}

interface Envelope {
  errors?: Array<{ code?: string; detail?: string; attr?: string | null }>;
  error?: { code?: string; detail?: string; message?: string; attr?: string | null };
}

let token: string | null = null;
let onSessionEnded: (() => void) | null = null;

/** The current session token, and who to tell when the service says it no longer holds. */
export function useToken(t: string | null, ended: (() => void) | null): void {
  token = t;
  onSessionEnded = ended;
}

export function authHeaders(): Record<string, string> {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

export async function errorFrom(res: Response): Promise<ApiError> {
  let body: Envelope = {};
  try {
    body = (await res.json()) as Envelope;
  } catch {
    body = {};
  }
  const e = body.errors?.[0] ?? body.error;
  const detail = e && 'detail' in e ? e.detail : undefined;
  return new ApiError(
    res.status,
    e?.code ?? `http_${res.status}`,
    detail ?? `The service answered ${res.status} ${res.statusText}.`,
    e?.attr ?? null,
  );
}

/** A raw fetch with the session header; throws ApiError for a failed answer. */
export async function call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { ...authHeaders() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      signal: signal ?? null,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', 'The service could not be reached. Check your connection and retry.');
  }
  if (res.ok) return res;
  const err = await errorFrom(res);
  if (res.status === 401 && token !== null && !path.startsWith('/v1/auth/login')) onSessionEnded?.();
  throw err;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(method, path, body);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A query string from the non-empty values. */
export function qs(params: Record<string, string | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}
