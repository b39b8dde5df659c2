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

/** Finds the credential of a request; null when none was sent. Throws 401 for a refused presentation. */
export function extractCredential(ctx: Context, allowUrl: boolean, enabled: ReadonlySet<Scheme>): Credential | null {
  const urlToken = ctx.query.api_token;
  if (urlToken !== undefined && !allowUrl) throw invalidToken(); // URL tokens leak into logs; only exports and feeds take them
  const header = ctx.get('authorization');
  let cred: Credential | null = null;
  if (header !== '') {
    const m = /^([A-Za-z-]+)[ \t]+(\S+)[ \t]*$/.exec(header);
    const scheme = m ? AUTH_SCHEMES[m[1]!.toLowerCase()] : undefined;
    if (!m || scheme === undefined) throw invalidToken();
    cred = { scheme, token: m[2]!, userIdHint: null };
  } else if (ctx.get('api-key') !== '') {
    cred = { scheme: 'api-key-header', token: ctx.get('api-key').trim(), userIdHint: null };
  } else if (urlToken !== undefined) {
    if (typeof urlToken !== 'string') throw invalidToken();
    const uid = ctx.query.user_id;
    cred = { scheme: 'url', token: urlToken, userIdHint: typeof uid === 'string' ? uid : null };
  }
  if (cred !== null && !enabled.has(cred.scheme)) throw invalidToken();
  return cred;
}
