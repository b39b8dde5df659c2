// Turns a credential into who is calling: the user, the credential, and the policy actor every route asks about.
import type { Presentation } from '../../events/catalog.js';
import type { KeyView, UserView } from '../../projections/read-model/views.js';
import { enforce, keyActor, sessionActor } from '../access.js';
import type { Scheme } from '../config.js';
import { looksLikeJwt } from '../crypto/tokens.js';
import { can, effectiveOf, seesAllTenants, type Actor, type Operation, type Operations } from '../domain/policy.js';
import type { Ledger } from '../ledger.js';
import type { HttpMetrics } from '../metrics/http.js';
import type { Credential } from './credentials.js';
import { invalidToken } from './errors.js';

/** OAuth client authentication (RFC 6749 §2.3.1), accepted on /oauth/ only. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface Caller {
  readonly kind: 'session' | 'api_key';
  readonly user: UserView;
  /** How the credential came: a presentation, or OAuth client authentication on /oauth/. */
  readonly scheme: Scheme | ClientAuthMethod;
  readonly key: KeyView | null;
  readonly sessionId: string | null;
  readonly sessionExpiresAt: number | null;
  /** Who the policy sees: a session (the whole account) or a key (its workspace, its scopes). */
  readonly actor: Actor;
}

const PRESENTATION: Record<Scheme, Presentation> = {
  bearer: 'bearer',
  'api-key': 'api-key',
  apitoken: 'apitoken',
  'api-key-header': 'api-key-header',
  url: 'url',
};

/** Who presents `cred`, or 401 invalid_token; every check is counted by presentation and outcome. */
export async function authenticate(
  ledger: Ledger,
  cred: Credential,
  req: { ip: string; userAgent: string | null },
  metrics?: HttpMetrics,
): Promise<Caller> {
  const caller = await identify(ledger, cred, req);
  metrics?.authentication(PRESENTATION[cred.scheme], caller === null ? 'invalid' : 'valid');
  if (caller === null) throw invalidToken();
  return caller;
}

async function identify(
  ledger: Ledger,
  cred: Credential,
  req: { ip: string; userAgent: string | null },
): Promise<Caller | null> {
  const now = ledger.now();
  const r = ledger.verifyAndRecord(cred.token, PRESENTATION[cred.scheme], {
    now,
    ip: req.ip,
    userAgent: req.userAgent,
  });
  if (r.valid && r.key) {
    if (cred.userIdHint !== null && cred.userIdHint !== r.key.owner.id) return null;
    return {
      kind: 'api_key',
      user: r.key.owner,
      scheme: cred.scheme,
      key: r.key,
      sessionId: null,
      sessionExpiresAt: null,
      actor: keyActor(r.key),
    };
  }
  // Login sessions are JWTs presented as Bearer; they are not in the key index.
  if (r.code === 'NOT_FOUND' && cred.scheme === 'bearer' && looksLikeJwt(cred.token)) {
    const s = await ledger.jwt.verifySession(cred.token, new Date(now));
    if (s.ok) {
      const user = ledger.read.findUser(s.claims.sub);
      if (user && ledger.read.sessionActive(s.claims.sid, user.id, now)) {
        const actor = sessionActor(ledger.read, user);
        return {
          kind: 'session',
          user,
          scheme: 'bearer',
          key: null,
          sessionId: s.claims.sid,
          sessionExpiresAt: s.claims.exp * 1000,
          actor,
        };
      }
    }
  }
  return null;
}

/** The workspace a request acts in when it names none: the key's own, or the user's default. */
export function currentWorkspaceId(caller: Caller): string | null {
  return caller.key?.workspaceId ?? caller.user.defaultWorkspaceId;
}

/** Asks the policy and throws its refusal (404 naming `subject`, or a 403). */
export function authorize<O extends Operation>(
  caller: Caller,
  op: O,
  resource: Operations[O],
  subject: { what: string; id: string },
): void {
  enforce(can(caller.actor, op, resource), subject);
}

export function allowed<O extends Operation>(caller: Caller, op: O, resource: Operations[O]): boolean {
  return can(caller.actor, op, resource).allow;
}

/** The caller's effective scopes in its current workspace. */
export function callerScopes(caller: Caller): string[] {
  const ws = currentWorkspaceId(caller);
  return ws === null ? [] : effectiveOf(caller.actor, ws);
}

type TenantOperation = 'key.verify' | 'audit.read' | 'audit.export' | 'feed.read';

/** The workspaces where the caller may do `op`; null means every workspace (system admin sessions). */
export function tenants(ledger: Ledger, caller: Caller, op: TenantOperation): string[] | null {
  if (seesAllTenants(caller.actor)) return null;
  const candidates = caller.key ? [caller.key.workspaceId] : [...ledger.read.membershipsOf(caller.user.id).keys()];
  return candidates.filter((workspaceId) => allowed(caller, op, { kind: 'workspace', workspaceId })).sort();
}
