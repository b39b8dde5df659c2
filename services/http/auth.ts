// Turns a credential into who is calling, and answers permission questions for them.
import type { Presentation, WorkspaceRole } from '../../events/catalog.js';
import type { KeyView, UserView } from '../../projections/views.js';
import type { Scheme } from '../config.js';
import { looksLikeJwt } from '../crypto/tokens.js';
import { allows, effectiveScopes, ROLE_PERMISSIONS } from '../domain/permissions.js';
import type { Ledger } from '../ledger.js';
import type { Credential } from './credentials.js';
import { invalidToken, permissionDenied } from './errors.js';

export interface Caller {
  readonly kind: 'session' | 'api_key';
  readonly user: UserView;
  readonly scheme: Scheme;
  readonly key: KeyView | null;
  readonly sessionId: string | null;
  readonly sessionExpiresAt: number | null;
}

const PRESENTATION: Record<Scheme, Presentation> = {
  bearer: 'bearer',
  'api-key': 'api-key',
  apitoken: 'apitoken',
  'api-key-header': 'api-key-header',
  url: 'url',
};

export async function authenticate(ledger: Ledger, cred: Credential, req: { ip: string; userAgent: string | null }): Promise<Caller> {
  const now = ledger.clock().getTime();
  const r = ledger.verifyAndRecord(cred.token, PRESENTATION[cred.scheme], { now, ip: req.ip, userAgent: req.userAgent });
  if (r.valid && r.key) {
    if (cred.userIdHint !== null && cred.userIdHint !== r.key.owner.id) throw invalidToken();
    return { kind: 'api_key', user: r.key.owner, scheme: cred.scheme, key: r.key, sessionId: null, sessionExpiresAt: null };
  }
  // Login sessions are JWTs presented as Bearer; they are not in the key index.
  if (r.code === 'NOT_FOUND' && cred.scheme === 'bearer' && looksLikeJwt(cred.token)) {
    const s = await ledger.jwt.verifySession(cred.token, new Date(now));
    if (s.ok) {
      const user = ledger.readModel.users.get(s.claims.sub);
      if (user && ledger.readModel.sessionActive(s.claims.sid, user.id, now)) {
        return { kind: 'session', user, scheme: 'bearer', key: null, sessionId: s.claims.sid, sessionExpiresAt: s.claims.exp * 1000 };
      }
    }
  }
  throw invalidToken();
}

/** The caller's role in a workspace; system admins act as owners everywhere. */
export function roleIn(ledger: Ledger, caller: Caller, workspaceId: string | null): WorkspaceRole | null {
  if (caller.key && workspaceId !== null && workspaceId !== caller.key.workspaceId) return null; // a key is bound to its workspace
  const ws = workspaceId ?? caller.key?.workspaceId ?? caller.user.defaultWorkspaceId;
  if (caller.user.systemRole === 'admin') return 'owner';
  if (ws === null) return null;
  return ledger.roleOf(ws, caller.user.id);
}

export function can(ledger: Ledger, caller: Caller, permission: string, workspaceId: string | null = null): boolean {
  const role = roleIn(ledger, caller, workspaceId);
  if (role === null) return false;
  return caller.key ? allows(role, caller.key.scopes, permission) : ROLE_PERMISSIONS[role].has(permission);
}

export function demand(ledger: Ledger, caller: Caller, permission: string, workspaceId: string | null = null): void {
  if (!can(ledger, caller, permission, workspaceId)) throw permissionDenied(permission);
}

export function callerScopes(ledger: Ledger, caller: Caller): string[] {
  const role = roleIn(ledger, caller, null);
  if (role === null) return [];
  return caller.key ? effectiveScopes(role, caller.key.scopes) : [...ROLE_PERMISSIONS[role]];
}

export function currentWorkspaceId(caller: Caller): string | null {
  return caller.key?.workspaceId ?? caller.user.defaultWorkspaceId;
}
