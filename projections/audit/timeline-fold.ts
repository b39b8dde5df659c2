// The timeline rules of timeline.ts (SQLite, one statement per event) as a fold over a whole batch, for stores where a
// round trip per event is too dear: load the touched rows, apply the batch in memory, write the result back in a few
// set-based statements. Same rules, same order, so the same tables (test/integration/audit-store-contract.test.ts).
import type { AuditRow } from './row.js';
import { FOREVER_MS, ms, text, type Data } from './timeline.js';

export interface KeyRecord {
  key_id: string;
  workspace_id: string;
  user_id: string;
  name: string;
  handle: string | null;
  start: string;
  created_ms: number;
  created_at: string;
  expires_ms: number | null;
  expires_at: string | null;
  grace_end_ms: number | null;
  revoked_ms: number | null;
  expired_ms: number | null;
  end_ms: number;
  rotated_from: string | null;
  successor_id: string | null;
}

/** One subject's intervals touched by the batch: whether the stored open one was closed (and when), and new ones. */
export interface Spells {
  /** A stored interval was open when the batch began. */
  readonly storedOpen: boolean;
  /** When the batch closed that stored interval (null: still open, or none). */
  closedAt: number | null;
  /** Intervals the batch opened, in order; to = FOREVER_MS while open. */
  readonly added: Array<{ from: number; to: number }>;
}

/** What a batch touches, so the store can load exactly those rows before folding. */
export interface Touched {
  readonly keys: Set<string>;
  readonly users: Set<string>;
  /** memberKey(workspace id, user id). */
  readonly members: Set<string>;
}

export const memberKey = (ws: string, user: string): string => JSON.stringify([ws, user]);
export const memberOf = (key: string): [ws: string, user: string] => JSON.parse(key) as [string, string];

const KEY_TYPES = new Set(['ApiKeyCreated', 'ApiKeyRotated', 'ApiKeyRevoked', 'ApiKeyExpired', 'ApiKeyUpdated']);
/** The event types that change a timeline; every other event leaves them as they are. */
export const TIMELINE_TYPES = new Set([
  ...KEY_TYPES,
  'UserDeactivated',
  'UserReactivated',
  'WorkspaceMemberRoleSet',
  'WorkspaceMemberRemoved',
]);

export function touched(batch: ReadonlyArray<{ row: AuditRow; data: Data }>): Touched {
  const t: Touched = { keys: new Set(), users: new Set(), members: new Set() };
  for (const { row, data } of batch) {
    if (KEY_TYPES.has(row.type)) {
      const k = text(data.keyId);
      if (k !== null) t.keys.add(k);
    } else if (row.type === 'UserDeactivated' || row.type === 'UserReactivated') {
      const u = text(data.userId);
      if (u !== null) t.users.add(u);
    } else if (row.type === 'WorkspaceMemberRoleSet' || row.type === 'WorkspaceMemberRemoved') {
      const ws = text(data.workspaceId);
      const u = text(data.userId);
      if (ws !== null && u !== null) t.members.add(memberKey(ws, u));
    }
  }
  return t;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

function open(s: Spells | undefined, at: number): void {
  if (!s) return;
  if ((s.storedOpen && s.closedAt === null) || s.added.some((i) => i.to === FOREVER_MS)) return;
  s.added.push({ from: at, to: FOREVER_MS });
}

function close(s: Spells | undefined, at: number): void {
  if (!s) return;
  if (s.storedOpen && s.closedAt === null) s.closedAt = at;
  for (const i of s.added) if (i.to === FOREVER_MS) i.to = at;
}

/**
 * The batch's effect on the three timelines. `keys` holds the stored rows of the touched keys (absent: none stored)
 * and ends holding every row to write; `changed` names them. `users` and `members` hold a Spells per touched subject.
 */
export class TimelineFold {
  readonly changed = new Set<string>();

  constructor(
    readonly keys: Map<string, KeyRecord>,
    readonly users: Map<string, Spells>,
    readonly members: Map<string, Spells>,
  ) {}

  apply(row: AuditRow, d: Data): void {
    const at = row.occurred_ms;
    switch (row.type) {
      case 'ApiKeyCreated':
        return this.create(row, d);
      case 'ApiKeyRotated':
        return this.end(text(d.keyId), ms(d.graceEndsAt) ?? at, (k, t) => {
          k.grace_end_ms ??= t;
          k.successor_id ??= text(d.successorId);
        });
      case 'ApiKeyRevoked':
        return this.end(text(d.keyId), at, (k, t) => void (k.revoked_ms ??= t));
      case 'ApiKeyExpired':
        return this.end(text(d.keyId), ms(d.expiredAt) ?? at, (k, t) => void (k.expired_ms ??= t));
      case 'ApiKeyUpdated':
        if (typeof d.name === 'string') this.touch(text(d.keyId), (k) => (k.name = d.name as string));
        return;
      case 'UserDeactivated':
        return open(this.user(d), at);
      case 'UserReactivated':
        return close(this.user(d), at);
      case 'WorkspaceMemberRoleSet':
        return open(this.member(d), at);
      case 'WorkspaceMemberRemoved':
        return close(this.member(d), at);
      default:
        return;
    }
  }

  private user(d: Data): Spells | undefined {
    const u = text(d.userId);
    return u === null ? undefined : this.users.get(u);
  }

  private member(d: Data): Spells | undefined {
    const ws = text(d.workspaceId);
    const u = text(d.userId);
    return ws === null || u === null ? undefined : this.members.get(memberKey(ws, u));
  }

  /** ON CONFLICT DO NOTHING: a key is created once, by its first ApiKeyCreated with a workspace and an owner. */
  private create(row: AuditRow, d: Data): void {
    const key = text(d.keyId);
    const ws = text(d.workspaceId);
    const user = text(d.userId);
    if (key === null || ws === null || user === null || this.keys.has(key)) return;
    const at = row.occurred_ms;
    const expires = ms(d.expiresAt);
    this.keys.set(key, {
      key_id: key,
      workspace_id: ws,
      user_id: user,
      name: text(d.name) ?? '',
      handle: text(d.handle),
      start: text(d.start) ?? '',
      created_ms: at,
      created_at: iso(at)!,
      expires_ms: expires,
      expires_at: iso(expires),
      grace_end_ms: null,
      revoked_ms: null,
      expired_ms: null,
      end_ms: expires ?? FOREVER_MS,
      rotated_from: text(d.rotatedFrom),
      successor_id: null,
    });
    this.changed.add(key);
  }

  /** The first of the key's ends, each recorded once (first wins), and end_ms the earliest of them. */
  private end(key: string | null, t: number, set: (k: KeyRecord, t: number) => void): void {
    this.touch(key, (k) => {
      set(k, t);
      k.end_ms = Math.min(k.end_ms, t);
    });
  }

  /** An update of a key that has no row does nothing, as an UPDATE … WHERE key_id = ? would. */
  private touch(key: string | null, change: (k: KeyRecord) => void): void {
    const k = key === null ? undefined : this.keys.get(key);
    if (!k) return;
    change(k);
    this.changed.add(k.key_id);
  }
}
