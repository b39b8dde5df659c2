// Roles map to named permissions; a key's effective permissions are its owner's role ∩ its scopes.
// Owners and admins hold the same permissions; only an owner may make someone an owner.
// Every function here is total: a role string no version knows (an old or corrupt event) grants nothing.
import type { WorkspaceRole } from '../../events/catalog.js';

export const PERMISSIONS = [
  'keys:create',
  'keys:read',
  'keys:revoke',
  'keys:verify',
  'keys:manage', // act on other members' keys
  'audit:read',
  'audit:export',
  'users:manage',
  'workspaces:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const LEDGER_NAMESPACES = new Set(['keys', 'audit', 'users', 'workspaces']);

export const WORKSPACE_ROLES = ['owner', 'admin', 'member', 'auditor'] as const satisfies readonly WorkspaceRole[];

const ROLE_PERMISSIONS: Readonly<Record<WorkspaceRole, ReadonlySet<string>>> = {
  owner: new Set<string>(PERMISSIONS),
  admin: new Set<string>(PERMISSIONS),
  member: new Set<string>(['keys:create', 'keys:read', 'keys:revoke', 'keys:verify']),
  auditor: new Set<string>(['keys:read', 'audit:read', 'audit:export']),
};

const NONE: ReadonlySet<string> = new Set();

/** Application scopes (outside the ledger's namespaces) are granted to every role that can hold keys for work. */
const APP_SCOPE_ROLES: ReadonlySet<string> = new Set(['owner', 'admin', 'member']);

/** Rank for acting on other members: nobody acts on someone who outranks them; auditors rank with members. */
const RANK: Readonly<Record<WorkspaceRole, number>> = { owner: 3, admin: 2, member: 1, auditor: 1 };

export function isWorkspaceRole(x: unknown): x is WorkspaceRole {
  return typeof x === 'string' && Object.hasOwn(ROLE_PERMISSIONS, x);
}

/** A role read from an event: anything unknown degrades to "no role". */
export function asRole(x: unknown): WorkspaceRole | null {
  return isWorkspaceRole(x) ? x : null;
}

export function permissionsOf(role: string | null): ReadonlySet<string> {
  return role !== null && isWorkspaceRole(role) ? ROLE_PERMISSIONS[role] : NONE;
}

export function rankOf(role: string | null): number {
  return role !== null && isWorkspaceRole(role) ? RANK[role] : 0;
}

const SCOPE_RE = /^[a-z][a-z0-9_-]{0,39}(?::[a-z0-9_.*-]{1,40}){1,3}$/;

export function isValidScope(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 200 && SCOPE_RE.test(s);
}

export function isLedgerScope(s: string): boolean {
  return LEDGER_NAMESPACES.has(s.slice(0, s.indexOf(':')));
}

export function roleAllows(role: string | null, scope: string): boolean {
  if (isLedgerScope(scope)) return permissionsOf(role).has(scope);
  return role !== null && APP_SCOPE_ROLES.has(role);
}

/** Effective permission check: the role must allow it and, if the key is scoped, the key must carry it. */
export function allows(role: string | null, keyScopes: ReadonlySet<string> | null, scope: string): boolean {
  return roleAllows(role, scope) && (keyScopes === null || keyScopes.has(scope));
}

export function effectiveScopes(role: string | null, keyScopes: ReadonlySet<string> | null): string[] {
  if (keyScopes === null) return [...permissionsOf(role)];
  return [...keyScopes].filter((s) => roleAllows(role, s));
}
