// Roles map to named permissions; a key's effective permissions are its owner's role ∩ its scopes.
// Owners and admins hold the same permissions; only an owner may make someone an owner.
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

export const ROLE_PERMISSIONS: Readonly<Record<WorkspaceRole, ReadonlySet<string>>> = {
  owner: new Set<string>(PERMISSIONS),
  admin: new Set<string>(PERMISSIONS),
  member: new Set<string>(['keys:create', 'keys:read', 'keys:revoke', 'keys:verify']),
  auditor: new Set<string>(['keys:read', 'audit:read', 'audit:export']),
};

/** Application scopes (outside the ledger's namespaces) are granted to every role that can hold keys for work. */
const APP_SCOPE_ROLES: ReadonlySet<WorkspaceRole> = new Set(['owner', 'admin', 'member']);

export const WORKSPACE_ROLES: readonly WorkspaceRole[] = ['owner', 'admin', 'member', 'auditor'];

const SCOPE_RE = /^[a-z][a-z0-9_-]{0,39}(:[a-z0-9_.*-]{1,40}){1,3}$/;

export function isValidScope(s: string): boolean {
  return SCOPE_RE.test(s);
}

export function isLedgerScope(s: string): boolean {
  return LEDGER_NAMESPACES.has(s.slice(0, s.indexOf(':')));
}

export function roleAllows(role: WorkspaceRole, scope: string): boolean {
  if (isLedgerScope(scope)) return ROLE_PERMISSIONS[role].has(scope);
  return APP_SCOPE_ROLES.has(role);
}

/** Effective permission check: the role must allow it and, if the key is scoped, the key must carry it. */
export function allows(role: WorkspaceRole, keyScopes: ReadonlySet<string> | null, scope: string): boolean {
  return roleAllows(role, scope) && (keyScopes === null || keyScopes.has(scope));
}

export function effectiveScopes(role: WorkspaceRole, keyScopes: ReadonlySet<string> | null): string[] {
  if (keyScopes === null) return [...ROLE_PERMISSIONS[role]];
  return [...keyScopes].filter((s) => roleAllows(role, s));
}
