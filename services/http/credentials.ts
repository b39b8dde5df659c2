// The five presentations: Bearer, Api-Key, APIToken, the API-KEY header, and ?api_token= on opt-in routes.
import type { Context } from 'koa';
import type { Scheme } from '../config.js';
import { invalidToken } from './errors.js';

export interface Credential {
  readonly scheme: Scheme;
  readonly token: string;
  /** `user_id` sent next to `api_token` (seed 000); must match the key's owner when present. */
  readonly userIdHint: string | null;
}

const AUTH_SCHEMES: Record<string, Scheme> = { bearer: 'bearer', 'api-key': 'api-key', apitoken: 'apitoken' };

/** What a request offers: headers and URL parameters, independent of the web framework. */
export interface Offered {
  readonly authorization: string | undefined;
  readonly apiKey: string | undefined;
  readonly urlToken: string | string[] | undefined;
  readonly userId: string | string[] | undefined;
}

export function offeredByKoa(ctx: Context): Offered {
  return {
    authorization: ctx.get('authorization') || undefined,
    apiKey: ctx.get('api-key') || undefined,
    urlToken: ctx.query.api_token,
    userId: ctx.query.user_id,
  };
}

/** Finds the credential of a request; null when none was sent. Throws 401 for a refused presentation. */
export function extractCredential(o: Offered, allowUrl: boolean, enabled: ReadonlySet<Scheme>): Credential | null {
  const urlToken = o.urlToken;
  if (urlToken !== undefined && !allowUrl) throw invalidToken(); // URL tokens leak into logs; only exports and feeds take them
  const header = o.authorization;
  let cred: Credential | null = null;
  if (header !== undefined && header !== '') {
    const m = /^([A-Za-z-]+)[ \t]+(\S+)[ \t]*$/.exec(header);
    const name = m ? m[1]!.toLowerCase() : '';
    const scheme = Object.hasOwn(AUTH_SCHEMES, name) ? AUTH_SCHEMES[name] : undefined;
    if (!m || scheme === undefined) throw invalidToken();
    cred = { scheme, token: m[2]!, userIdHint: null };
  } else if (o.apiKey !== undefined && o.apiKey.trim() !== '') {
    cred = { scheme: 'api-key-header', token: o.apiKey.trim(), userIdHint: null };
  } else if (urlToken !== undefined) {
    if (typeof urlToken !== 'string') throw invalidToken();
    const uid = o.userId;
    cred = { scheme: 'url', token: urlToken, userIdHint: typeof uid === 'string' ? uid : null };
  }
  if (cred !== null && !enabled.has(cred.scheme)) throw invalidToken();
  return cred;
}
