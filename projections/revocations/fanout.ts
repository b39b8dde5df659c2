// Revocation-class facts, one per affected key, derived deterministically from the ledger log alone.
// The index is rebuilt by replaying from the start, so a publisher resuming from a checkpoint (or a feed
// after a restart) produces exactly the same fan-out for the same position as the first time.
import type { StoredEvent, WorkspaceRole } from '../../events/catalog.js';
import type { RevocationCause } from '../../clients/protocol.js';
import { effectiveScopes, WORKSPACE_ROLES } from '../../services/domain/permissions.js';

export interface RevocationItem {
  readonly keyId: string;
  readonly userId: string | null;
  readonly workspaceId: string | null;
  /** 'restrict': the key still verifies, but only for `scopes` (its owner's role changed). */
  readonly action: 'revoke' | 'reinstate' | 'restrict';
  readonly cause: RevocationCause;
  readonly terminal: boolean;
  readonly reason: string | null;
  /**
   * Non-terminal items: the key's effective scopes now (owner's role ∩ key scopes), sorted. Absent on terminal
   * items. Every non-terminal item carries it because the compacted topic keeps only a key's latest message.
   */
  readonly scopes?: readonly string[];
}

interface KeyEntry {
  readonly userId: string;
  readonly workspaceId: string;
  /** The key's own scopes (null: unscoped, the role decides). */
  readonly scopes: ReadonlySet<string> | null;
  terminal: boolean;
  /** The effective scopes consumers last learned (at creation: the JWT scope claim), sorted. */
  published: readonly string[];
}

const memberKey = (workspaceId: string, userId: string): string => `${workspaceId}\n${userId}`;

const KNOWN_ROLES: ReadonlySet<string> = new Set<string>(WORKSPACE_ROLES);
const isKnownRole = (role: string): role is WorkspaceRole => KNOWN_ROLES.has(role);

/** Effective scopes under a role, sorted; an unknown role (e.g. from an old event) or no role grants nothing. */
function scopesUnder(role: string | undefined, keyScopes: ReadonlySet<string> | null): string[] {
  if (role === undefined || !isKnownRole(role)) return [];
  return effectiveScopes(role, keyScopes).sort();
}

const sameScopes = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((s, i) => s === b[i]);

/** A RevocationIndex as plain JSON-able data (what the revocation-feed snapshot stores), in the maps' own order. */
export interface IndexImage {
  readonly keys: Array<
    [
      keyId: string,
      userId: string,
      workspaceId: string,
      scopes: string[] | null,
      terminal: boolean,
      published: string[],
    ]
  >;
  readonly keysByUser: Array<[userId: string, keyIds: string[]]>;
  readonly inactiveUsers: string[];
  readonly members: Array<[workspaceId: string, userId: string, role: string]>;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

export class RevocationIndex {
  private readonly keys = new Map<string, KeyEntry>();
  private readonly keysByUser = new Map<string, string[]>();
  private readonly inactiveUsers = new Set<string>();
  /** Current role per (workspace, user); absent: not a member. */
  private readonly members = new Map<string, string>();

  get keyCount(): number {
    return this.keys.size;
  }

  toImage(): IndexImage {
    return {
      keys: [...this.keys].map(([id, k]) => [
        id,
        k.userId,
        k.workspaceId,
        k.scopes === null ? null : [...k.scopes],
        k.terminal,
        [...k.published],
      ]),
      keysByUser: [...this.keysByUser].map(([user, ids]) => [user, [...ids]]),
      inactiveUsers: [...this.inactiveUsers],
      members: [...this.members].map(([mk, role]) => {
        const [ws = '', user = ''] = mk.split('\n');
        return [ws, user, role];
      }),
    };
  }

  /** The index an image holds, exactly; a malformed image is a TypeError (the snapshot is then ignored). */
  static fromImage(img: IndexImage): RevocationIndex {
    const ix = new RevocationIndex();
    for (const row of img.keys) {
      const [id, userId, workspaceId, scopes, terminal, published] = row;
      if (![id, userId, workspaceId].every((s) => typeof s === 'string') || typeof terminal !== 'boolean')
        throw new TypeError('revocation index image: a malformed key row');
      if (!(scopes === null || isStrings(scopes)) || !isStrings(published))
        throw new TypeError('revocation index image: malformed scopes');
      ix.keys.set(id, { userId, workspaceId, scopes: scopes === null ? null : new Set(scopes), terminal, published });
    }
    for (const [user, ids] of img.keysByUser) {
      if (typeof user !== 'string' || !isStrings(ids))
        throw new TypeError('revocation index image: a malformed key list');
      ix.keysByUser.set(user, ids);
    }
    if (!isStrings(img.inactiveUsers)) throw new TypeError('revocation index image: malformed inactive users');
    for (const u of img.inactiveUsers) ix.inactiveUsers.add(u);
    for (const m of img.members) {
      if (!isStrings(m) || m.length !== 3) throw new TypeError('revocation index image: a malformed membership');
      ix.members.set(memberKey(m[0], m[1]), m[2]);
    }
    return ix;
  }

  /** Applies one ledger event and returns its revocation-class items (most events have none). */
  apply(e: StoredEvent): RevocationItem[] {
    switch (e.type) {
      case 'ApiKeyCreated': {
        const d = e.data;
        const scopes = Array.isArray(d.scopes) ? new Set(d.scopes) : null;
        const published = scopesUnder(this.members.get(memberKey(d.workspaceId, d.userId)), scopes);
        this.keys.set(d.keyId, { userId: d.userId, workspaceId: d.workspaceId, scopes, terminal: false, published });
        let list = this.keysByUser.get(d.userId);
        if (list === undefined) this.keysByUser.set(d.userId, (list = []));
        list.push(d.keyId);
        return [];
      }
      case 'ApiKeyRevoked':
        return [this.terminate(e.data.keyId, 'revoked', e.data.reason)];
      case 'ApiKeyExpired':
        return [this.terminate(e.data.keyId, e.data.reason === 'rotated' ? 'rotated' : 'expired', null)];
      case 'UserDeactivated': {
        const { userId, reason } = e.data;
        this.inactiveUsers.add(userId);
        return this.liveKeysOf(userId).map(([id, k]) => this.item(id, k, 'revoke', 'owner_deactivated', reason));
      }
      case 'UserReactivated': {
        const { userId } = e.data;
        if (!this.inactiveUsers.delete(userId)) return [];
        return this.liveKeysOf(userId)
          .filter(([, k]) => this.members.has(memberKey(k.workspaceId, userId)))
          .map(([id, k]) => this.item(id, k, 'reinstate', 'owner_reactivated', null));
      }
      case 'WorkspaceCreated':
        // The creator becomes owner through a WorkspaceMemberRoleSet of its own; nothing to do here.
        return [];
      case 'WorkspaceMemberRoleSet': {
        const { workspaceId, userId, role } = e.data;
        const mk = memberKey(workspaceId, userId);
        const wasMember = this.members.has(mk);
        // The ledger reads a role it does not know (old or corrupt event) as no membership; so does the index.
        if (!isKnownRole(role)) return wasMember ? this.removeMember(workspaceId, userId) : [];
        this.members.set(mk, role);
        const keys = this.liveKeysOf(userId).filter(([, k]) => k.workspaceId === workspaceId);
        if (!wasMember) {
          // Join or re-join: reinstate (its items carry the scopes under the new role).
          if (this.inactiveUsers.has(userId)) return [];
          return keys.map(([id, k]) => this.item(id, k, 'reinstate', 'member_restored', null));
        }
        // A role change: consumers must hold each key's current effective set, narrower or wider.
        return keys
          .filter(([, k]) => !sameScopes(k.published, scopesUnder(role, k.scopes)))
          .map(([id, k]) => this.item(id, k, 'restrict', 'role_changed', null));
      }
      case 'WorkspaceMemberRemoved':
        return this.removeMember(e.data.workspaceId, e.data.userId);
      default:
        return [];
    }
  }

  private removeMember(workspaceId: string, userId: string): RevocationItem[] {
    this.members.delete(memberKey(workspaceId, userId));
    return this.liveKeysOf(userId)
      .filter(([, k]) => k.workspaceId === workspaceId)
      .map(([id, k]) => this.item(id, k, 'revoke', 'member_removed', null));
  }

  /** A non-terminal item for a live key, stating (and recording as published) its effective scopes now. */
  private item(
    keyId: string,
    k: KeyEntry,
    action: 'revoke' | 'reinstate' | 'restrict',
    cause: RevocationCause,
    reason: string | null,
  ): RevocationItem {
    const scopes = scopesUnder(this.members.get(memberKey(k.workspaceId, k.userId)), k.scopes);
    k.published = scopes;
    return { keyId, userId: k.userId, workspaceId: k.workspaceId, action, cause, terminal: false, reason, scopes };
  }

  private terminate(keyId: string, cause: RevocationCause, reason: string | null): RevocationItem {
    const k = this.keys.get(keyId);
    if (k) k.terminal = true;
    return {
      keyId,
      userId: k?.userId ?? null,
      workspaceId: k?.workspaceId ?? null,
      action: 'revoke',
      cause,
      terminal: true,
      reason,
    };
  }

  /** A user's keys that are not revoked/expired, in creation order. */
  private liveKeysOf(userId: string): Array<[string, KeyEntry]> {
    const out: Array<[string, KeyEntry]> = [];
    for (const id of this.keysByUser.get(userId) ?? []) {
      const k = this.keys.get(id);
      if (k && !k.terminal) out.push([id, k]);
    }
    return out;
  }
}
