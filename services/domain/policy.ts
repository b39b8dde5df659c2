// The one authorization policy: can(actor, operation, resource) → allow | deny(code). Pure: no I/O, no clock.
// Every HTTP route and every CLI command asks it; docs/authorization.md is its decision table.
import type { WorkspaceRole } from '../../events/catalog.js';
import { allows, effectiveScopes, permissionsOf, rankOf, roleAllows } from './permissions.js';

/** A membership as the read model holds it: the role may be null (removed) or unknown (degrades to none). */
export interface MembershipLike {
  readonly role: string | null;
}

/** The operator at the host's CLI: holds the data folder, so holds every power. */
export interface OperatorActor {
  readonly kind: 'operator';
}

/** A login session: a user's whole account. System admins act as owners of every workspace. */
export interface SessionActor {
  readonly kind: 'session';
  readonly userId: string;
  readonly email: string;
  readonly systemAdmin: boolean;
  /** workspace id → membership */
  readonly memberships: ReadonlyMap<string, MembershipLike>;
}

/** An API key: acts only in its own workspace, with its owner's role there ∩ its scopes. Never a system admin. */
export interface KeyActor {
  readonly kind: 'key';
  readonly userId: string;
  readonly keyId: string;
  readonly workspaceId: string;
  readonly role: string | null;
  readonly scopes: ReadonlySet<string> | null;
}

export type Actor = OperatorActor | SessionActor | KeyActor;

export interface AccountResource {
  readonly kind: 'account';
  readonly userId: string;
  readonly memberships: ReadonlyMap<string, MembershipLike>;
}
export interface NewAccountResource {
  readonly kind: 'new-account';
  readonly workspaceId: string | null;
  readonly role: WorkspaceRole;
  readonly systemAdmin: boolean;
}
export interface WorkspaceResource {
  readonly kind: 'workspace';
  readonly workspaceId: string;
}
export interface MemberResource {
  readonly kind: 'member';
  readonly workspaceId: string;
  readonly userId: string;
  /** Current role there (null: not a member). */
  readonly role: string | null;
  /** The role asked for (set role, add, invite). */
  readonly newRole: WorkspaceRole | null;
}
export interface InvitationResource {
  readonly kind: 'invitation';
  readonly workspaceId: string;
  readonly email: string;
}
export interface KeyResource {
  readonly kind: 'key';
  readonly keyId: string;
  readonly workspaceId: string;
  readonly ownerId: string;
  readonly ownerRole: string | null;
  readonly scopes: ReadonlySet<string> | null;
}
export interface NewKeyResource {
  readonly kind: 'new-key';
  readonly workspaceId: string;
  /** Requested scopes; null asks for an unscoped key. */
  readonly scopes: readonly string[] | null;
}
export interface NoResource {
  readonly kind: 'none';
}

export type Resource =
  | AccountResource
  | NewAccountResource
  | WorkspaceResource
  | MemberResource
  | InvitationResource
  | KeyResource
  | NewKeyResource
  | NoResource;

/** Every operation, with the resource it needs. */
export interface Operations {
  'account.create': NewAccountResource;
  'account.read': AccountResource;
  'account.list': NoResource;
  'account.deactivate': AccountResource;
  'account.reactivate': AccountResource;
  'account.unlock': AccountResource;
  'account.password': AccountResource;
  'session.logout': AccountResource;
  'workspace.create': NoResource;
  'workspace.read': WorkspaceResource;
  'workspace.policy': WorkspaceResource;
  'member.add': MemberResource;
  'member.role': MemberResource;
  'member.remove': MemberResource;
  'invitation.create': MemberResource;
  'invitation.manage': WorkspaceResource;
  'invitation.respond': InvitationResource;
  'key.create': NewKeyResource;
  'key.list': WorkspaceResource;
  'key.read': KeyResource;
  'key.update': KeyResource;
  'key.reveal': KeyResource;
  'key.rotate': KeyResource;
  'key.revoke': KeyResource;
  'key.verify': WorkspaceResource;
  'audit.read': WorkspaceResource;
  'audit.export': WorkspaceResource;
  'feed.read': WorkspaceResource;
}
export type Operation = keyof Operations;

export const OPERATIONS = [
  'account.create',
  'account.read',
  'account.list',
  'account.deactivate',
  'account.reactivate',
  'account.unlock',
  'account.password',
  'session.logout',
  'workspace.create',
  'workspace.read',
  'workspace.policy',
  'member.add',
  'member.role',
  'member.remove',
  'invitation.create',
  'invitation.manage',
  'invitation.respond',
  'key.create',
  'key.list',
  'key.read',
  'key.update',
  'key.reveal',
  'key.rotate',
  'key.revoke',
  'key.verify',
  'audit.read',
  'audit.export',
  'feed.read',
] as const satisfies readonly Operation[];

/**
 * Why a call is refused. `not_found`: the resource is outside the actor's tenants, so not even acknowledged (404);
 * the others are 403s.
 */
export type DenyCode =
  'not_found' | 'permission_denied' | 'session_required' | 'consent_required' | 'exceeds_credential';

export type Decision =
  { readonly allow: true } | { readonly allow: false; readonly code: DenyCode; readonly permission: string | null };

const ALLOW: Decision = Object.freeze({ allow: true });
const deny = (code: DenyCode, permission: string | null = null): Decision => ({ allow: false, code, permission });

/** Outranks every workspace role: the operator and system admin sessions. */
const SUPER_RANK = 4;

function isSuper(a: Actor): boolean {
  return a.kind === 'operator' || (a.kind === 'session' && a.systemAdmin);
}

/** The actor's role in a workspace (system-wide actors act as owners); null outside it. */
export function roleOf(a: Actor, workspaceId: string): string | null {
  switch (a.kind) {
    case 'operator':
      return 'owner';
    case 'session':
      return a.systemAdmin ? 'owner' : (a.memberships.get(workspaceId)?.role ?? null);
    case 'key':
      return workspaceId === a.workspaceId ? a.role : null;
  }
}

/** Whether the workspace is one of the actor's tenants (it may see that it exists). */
export function inWorkspace(a: Actor, workspaceId: string): boolean {
  return rankOf(roleOf(a, workspaceId)) > 0;
}

/** A permission held in a workspace: the role grants it and, for a key, its scopes carry it. */
export function holds(a: Actor, workspaceId: string, permission: string): boolean {
  const role = roleOf(a, workspaceId);
  return a.kind === 'key' ? allows(role, a.scopes, permission) : permissionsOf(role).has(permission);
}

function rankIn(a: Actor, workspaceId: string): number {
  return isSuper(a) ? SUPER_RANK : rankOf(roleOf(a, workspaceId));
}

/** The actor's effective scopes in its key's workspace (the whole role for sessions). */
export function effectiveOf(a: Actor, workspaceId: string): string[] {
  const role = roleOf(a, workspaceId);
  return a.kind === 'key' ? effectiveScopes(role, a.scopes) : [...permissionsOf(role)];
}

/** A key's power never exceeds the acting credential: sessions hold their whole role, keys must cover it. */
function covers(a: Actor, k: KeyResource): boolean {
  if (a.kind !== 'key' || a.scopes === null) return true;
  if (k.scopes === null) return false;
  for (const s of k.scopes) if (roleAllows(k.ownerRole, s) && !a.scopes.has(s)) return false;
  return true;
}

const isSelf = (a: Actor, userId: string): boolean => a.kind !== 'operator' && a.userId === userId;

/** In a workspace: 404 outside it, 403 without the permission. */
function demandIn(a: Actor, workspaceId: string, permission: string): Decision {
  if (!inWorkspace(a, workspaceId)) return deny('not_found', permission);
  return holds(a, workspaceId, permission) ? ALLOW : deny('permission_denied', permission);
}

/** Someone with users:manage in a workspace the account belongs to may see it (keys only in their own). */
function seesAccount(a: Actor, r: AccountResource): boolean {
  if (isSuper(a) || isSelf(a, r.userId)) return true;
  for (const [ws, m] of r.memberships) if (rankOf(m.role) > 0 && holds(a, ws, 'users:manage')) return true;
  return false;
}

/** Account-wide powers belong to system admins (on a session) and the operator. */
function accountWide(a: Actor, r: AccountResource, permission: string): Decision {
  if (isSuper(a)) return ALLOW;
  return deny(seesAccount(a, r) ? 'permission_denied' : 'not_found', permission);
}

function ownAccountFromSession(a: Actor, r: AccountResource, permission: string): Decision {
  if (!isSelf(a, r.userId)) return deny(seesAccount(a, r) ? 'permission_denied' : 'not_found', permission);
  return a.kind === 'session' ? ALLOW : deny('session_required', permission);
}

function keyDecision(
  a: Actor,
  op: 'key.read' | 'key.update' | 'key.reveal' | 'key.rotate' | 'key.revoke',
  k: KeyResource,
): Decision {
  const own = isSelf(a, k.ownerId);
  // A key never sees outside its workspace; others' keys need keys:manage there.
  if (a.kind === 'key' && a.workspaceId !== k.workspaceId) return deny('not_found', 'keys:read');
  if (!own && !isSuper(a) && !holds(a, k.workspaceId, 'keys:manage')) return deny('not_found', 'keys:manage');
  switch (op) {
    case 'key.read':
      // Your own session may always look at your own keys.
      return own && a.kind === 'session' ? ALLOW : demandIn(a, k.workspaceId, 'keys:read');
    case 'key.revoke':
      // Revoking only narrows power: your own session may always do it. Others' keys need rank too.
      if (own && a.kind === 'session') return ALLOW;
      if (!holds(a, k.workspaceId, 'keys:revoke')) return deny('permission_denied', 'keys:revoke');
      return own || rankIn(a, k.workspaceId) >= rankOf(k.ownerRole) ? ALLOW : deny('permission_denied', 'rank');
    case 'key.update':
      if (!holds(a, k.workspaceId, 'keys:create')) return deny('permission_denied', 'keys:create');
      return own || rankIn(a, k.workspaceId) >= rankOf(k.ownerRole) ? ALLOW : deny('permission_denied', 'rank');
    case 'key.reveal':
    case 'key.rotate': {
      // A token is handed out only to its owner, and only by a credential at least as broad as the key.
      const permission = op === 'key.reveal' ? 'keys:read' : 'keys:create';
      // The operator holds the data folder and its master key: rotating for the owner hands out nothing it lacks.
      if (op === 'key.rotate' && a.kind === 'operator') return ALLOW;
      if (!own) return deny('permission_denied', 'owner only');
      if (!holds(a, k.workspaceId, permission)) return deny('permission_denied', permission);
      return covers(a, k) ? ALLOW : deny('exceeds_credential', 'scopes beyond the calling key');
    }
  }
}

function memberDecision(
  a: Actor,
  op: 'member.add' | 'member.role' | 'member.remove' | 'invitation.create',
  r: MemberResource,
): Decision {
  // Leaving a workspace is your own business (the decider keeps its last owner).
  if (op === 'member.remove' && isSelf(a, r.userId) && a.kind === 'session') return ALLOW;
  if (!inWorkspace(a, r.workspaceId)) return deny('not_found', 'workspaces:manage');
  if (!holds(a, r.workspaceId, 'workspaces:manage')) return deny('permission_denied', 'workspaces:manage');
  const rank = rankIn(a, r.workspaceId);
  if (rank < rankOf(r.role) || rank < rankOf(r.newRole))
    return deny('permission_denied', r.newRole === 'owner' || r.role === 'owner' ? 'owner' : 'rank');
  // Nobody joins a workspace without consent: an accepted invitation, or a system admin.
  if (op === 'member.add' && !isSuper(a)) return deny('consent_required', 'invitation');
  return ALLOW;
}

export function can<O extends Operation>(a: Actor, op: O, r: Operations[O]): Decision;
export function can(a: Actor, op: Operation, r: Resource): Decision {
  switch (op) {
    case 'account.create': {
      const n = r as NewAccountResource;
      if (n.systemAdmin || n.workspaceId === null)
        return isSuper(a) ? ALLOW : deny('permission_denied', 'system admin');
      const d = demandIn(a, n.workspaceId, 'users:manage');
      if (!d.allow) return d;
      if (rankIn(a, n.workspaceId) < rankOf(n.role))
        return deny('permission_denied', n.role === 'owner' ? 'owner' : 'rank');
      // The new account's role must not hold more than the credential creating it (its creator learns its password).
      const mine = new Set(effectiveOf(a, n.workspaceId));
      for (const p of permissionsOf(n.role)) if (!isSuper(a) && !mine.has(p)) return deny('exceeds_credential', p);
      return ALLOW;
    }
    case 'account.read':
      return seesAccount(a, r as AccountResource) ? ALLOW : deny('not_found', 'users:manage');
    case 'account.list':
      if (isSuper(a)) return ALLOW;
      if (a.kind === 'session') for (const ws of a.memberships.keys()) if (holds(a, ws, 'users:manage')) return ALLOW;
      if (a.kind === 'key' && holds(a, a.workspaceId, 'users:manage')) return ALLOW;
      return deny('permission_denied', 'users:manage');
    case 'account.deactivate':
    case 'account.reactivate':
    case 'account.unlock':
      return accountWide(a, r as AccountResource, 'system admin');
    case 'account.password':
    case 'session.logout':
      return ownAccountFromSession(a, r as AccountResource, op === 'session.logout' ? 'session' : 'own password');
    case 'workspace.create':
      // A key acts only in its own workspace, so it never founds another one.
      return a.kind === 'key' ? deny('session_required', 'workspaces:create') : ALLOW;
    case 'workspace.read':
      return inWorkspace(a, (r as WorkspaceResource).workspaceId) ? ALLOW : deny('not_found', null);
    case 'workspace.policy':
    case 'invitation.manage':
      return demandIn(a, (r as WorkspaceResource).workspaceId, 'workspaces:manage');
    case 'member.add':
    case 'member.role':
    case 'member.remove':
    case 'invitation.create':
      return memberDecision(a, op, r as MemberResource);
    case 'invitation.respond': {
      const inv = r as InvitationResource;
      if (a.kind !== 'session') return deny('session_required', 'invitation');
      return a.email.toLowerCase() === inv.email.toLowerCase() ? ALLOW : deny('not_found', 'invitation');
    }
    case 'key.create': {
      const n = r as NewKeyResource;
      const d = demandIn(a, n.workspaceId, 'keys:create');
      if (!d.allow || a.kind !== 'key' || a.scopes === null) return d;
      // A key cannot grant more than the key that creates it.
      const held = a.scopes;
      if (n.scopes === null || n.scopes.some((s) => !held.has(s)))
        return deny('exceeds_credential', 'scopes beyond the calling key');
      return ALLOW;
    }
    case 'key.list':
      return demandIn(a, (r as WorkspaceResource).workspaceId, 'keys:read');
    case 'key.read':
    case 'key.update':
    case 'key.reveal':
    case 'key.rotate':
    case 'key.revoke':
      return keyDecision(a, op, r as KeyResource);
    case 'key.verify':
      return demandIn(a, (r as WorkspaceResource).workspaceId, 'keys:verify');
    case 'audit.read':
      return demandIn(a, (r as WorkspaceResource).workspaceId, 'audit:read');
    case 'audit.export':
      return demandIn(a, (r as WorkspaceResource).workspaceId, 'audit:export');
    case 'feed.read': {
      const ws = (r as WorkspaceResource).workspaceId;
      if (!inWorkspace(a, ws)) return deny('not_found', 'keys:verify');
      return holds(a, ws, 'keys:verify') || holds(a, ws, 'audit:read')
        ? ALLOW
        : deny('permission_denied', 'keys:verify');
    }
  }
}

/** True for actors that see every tenant (system admin sessions and the operator): reads need no filter. */
export function seesAllTenants(a: Actor): boolean {
  return isSuper(a);
}
