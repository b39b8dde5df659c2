// Revocation-class facts, one per affected key, derived deterministically from the ledger log alone.
// The index is rebuilt by replaying from the start, so a publisher resuming from a checkpoint (or a feed
// after a restart) produces exactly the same fan-out for the same position as the first time.
import type { StoredEvent } from '../../events/catalog.js';
import type { RevocationCause } from '../../clients/protocol.js';

export interface RevocationItem {
  readonly keyId: string;
  readonly userId: string | null;
  readonly workspaceId: string | null;
  readonly action: 'revoke' | 'reinstate';
  readonly cause: RevocationCause;
  readonly terminal: boolean;
  readonly reason: string | null;
}

interface KeyEntry {
  readonly userId: string;
  readonly workspaceId: string;
  terminal: boolean;
}

const memberKey = (workspaceId: string, userId: string): string => `${workspaceId}\n${userId}`;

export class RevocationIndex {
  private readonly keys = new Map<string, KeyEntry>();
  private readonly keysByUser = new Map<string, string[]>();
  private readonly inactiveUsers = new Set<string>();
  private readonly members = new Set<string>();

  get keyCount(): number {
    return this.keys.size;
  }

  /** Applies one ledger event and returns its revocation-class items (most events have none). */
  apply(e: StoredEvent): RevocationItem[] {
    switch (e.type) {
      case 'ApiKeyCreated': {
        const d = e.data;
        this.keys.set(d.keyId, { userId: d.userId, workspaceId: d.workspaceId, terminal: false });
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
        return this.liveKeysOf(userId).map(([id, k]) => item(id, k, 'revoke', 'owner_deactivated', reason));
      }
      case 'UserReactivated': {
        const { userId } = e.data;
        if (!this.inactiveUsers.delete(userId)) return [];
        return this.liveKeysOf(userId)
          .filter(([, k]) => this.members.has(memberKey(k.workspaceId, userId)))
          .map(([id, k]) => item(id, k, 'reinstate', 'owner_reactivated', null));
      }
      case 'WorkspaceCreated':
        // The creator becomes owner through a WorkspaceMemberRoleSet of its own; nothing to do here.
        return [];
      case 'WorkspaceMemberRoleSet': {
        const { workspaceId, userId } = e.data;
        const mk = memberKey(workspaceId, userId);
        if (this.members.has(mk)) return [];
        this.members.add(mk);
        if (this.inactiveUsers.has(userId)) return [];
        return this.liveKeysOf(userId)
          .filter(([, k]) => k.workspaceId === workspaceId)
          .map(([id, k]) => item(id, k, 'reinstate', 'member_restored', null));
      }
      case 'WorkspaceMemberRemoved': {
        const { workspaceId, userId } = e.data;
        this.members.delete(memberKey(workspaceId, userId));
        return this.liveKeysOf(userId)
          .filter(([, k]) => k.workspaceId === workspaceId)
          .map(([id, k]) => item(id, k, 'revoke', 'member_removed', null));
      }
      default:
        return [];
    }
  }

  private terminate(keyId: string, cause: RevocationCause, reason: string | null): RevocationItem {
    const k = this.keys.get(keyId);
    if (k) k.terminal = true;
    return { keyId, userId: k?.userId ?? null, workspaceId: k?.workspaceId ?? null, action: 'revoke', cause, terminal: true, reason };
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

function item(keyId: string, k: KeyEntry, action: 'revoke' | 'reinstate', cause: RevocationCause, reason: string | null): RevocationItem {
  return { keyId, userId: k.userId, workspaceId: k.workspaceId, action, cause, terminal: false, reason };
}
