// The wire contract of the revocation feeds (Kafka topic, HTTP list, SSE): pure types and constants, no imports.
// Server and clients both build on this file; nothing here may import server code.

/** CloudEvents 1.0, structured JSON mode, with the ledger's extension attributes. */
export interface CloudEvent<D = unknown> {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: D;
  /** Extension: global ledger position of the ledger event this CloudEvent comes from. */
  readonly ledgerposition: number;
  /** Extension: feed cursor of this item ("P", or "P.i" for all but the last item of a per-key fan-out). */
  readonly ledgercursor: string;
  /** Extension: who caused it, "type:id" (user:usr_…, key:key_…, service:…, system:system). */
  readonly ledgeractor?: string;
}

/** CloudEvent types on the revocations topic and the HTTP feeds. */
export const REVOCATION_TYPES = {
  /** The key was revoked (terminal). */
  revoked: 'io.token-ledger.apikey.revoked',
  /** The key reached its expiry (terminal). */
  expired: 'io.token-ledger.apikey.expired',
  /** A rotated key's old token was retired at the end of its grace period (terminal). */
  retired: 'io.token-ledger.apikey.retired',
  /** The key stopped verifying because its owner was deactivated or removed from the key's workspace (reversible). */
  suspended: 'io.token-ledger.apikey.suspended',
  /** A suspended key verifies again: its owner was reactivated or re-added to the workspace. */
  reinstated: 'io.token-ledger.apikey.reinstated',
  /** The key's effective scopes changed with its owner's role (narrower or wider): honour only `data.scopes` from now on. */
  restricted: 'io.token-ledger.apikey.restricted',
} as const;
export type RevocationType = (typeof REVOCATION_TYPES)[keyof typeof REVOCATION_TYPES];

export type RevocationCause =
  | 'revoked'
  | 'expired'
  | 'rotated'
  | 'owner_deactivated'
  | 'member_removed'
  | 'owner_reactivated'
  | 'member_restored'
  | 'role_changed';

/** `data` of a revocation-class CloudEvent. Never carries a token, a digest or any other secret. */
export interface RevocationData {
  readonly keyId: string;
  readonly userId: string | null;
  readonly workspaceId: string | null;
  /** 'revoke': refuse the key from now on. 'reinstate': a suspension ended. 'restrict': accept it only for `scopes`. */
  readonly action: 'revoke' | 'reinstate' | 'restrict';
  readonly cause: RevocationCause;
  /** true when the key can never verify again (revoked, expired, retired). */
  readonly terminal: boolean;
  readonly reason: string | null;
  /**
   * The key's effective scopes as of this item (its owner's current role ∩ the key's scopes), sorted. Present on
   * every non-terminal item (suspended, reinstated, restricted), absent on terminal ones. A verifier accepts a JWT
   * key only for scopes in both its `scope` claim and the latest `scopes` received for it.
   */
  readonly scopes?: readonly string[];
  /** The ledger event behind this item (one ledger event may fan out to many keys). */
  readonly ledgerEventId: string;
  readonly ledgerEventType: string;
  readonly occurredAt: string;
}

export type RevocationEvent = CloudEvent<RevocationData>;

/**
 * CloudEvent type of the publisher's heartbeat on the revocations topic. Not a revocation: watchers measure their
 * staleness from the last heartbeat or event, so a stalled publisher (broker still up) makes them fail closed.
 */
export const HEARTBEAT_TYPE = 'io.token-ledger.ledger.heartbeat';
/** Kafka key (and CloudEvent subject) of heartbeats: one key, so compaction keeps only the latest one. */
export const HEARTBEAT_KEY = '__heartbeat__';

/** `data` of a heartbeat. Positions and timings only, nothing secret. */
export interface HeartbeatData {
  /** Last ledger position the message bus acknowledged (everything up to it is on the topics). */
  readonly checkpoint: number;
  /** Newest ledger position the publisher knows of. */
  readonly head: number;
  /** Ledger events read from the log and not yet acknowledged. */
  readonly lagEvents: number;
  /** How long the oldest not-yet-acknowledged ledger event has been waiting, in ms (0: caught up). */
  readonly lagMs: number;
  /** The publisher's heartbeat interval: a live publisher sends one at least this often. */
  readonly intervalMs: number;
}

export type HeartbeatEvent = CloudEvent<HeartbeatData>;

/** GET /v1/revocations response. */
export interface RevocationPage {
  readonly items: RevocationEvent[];
  /** Pass as `after` for the next page (also when empty: it may skip ahead of non-revocation positions). */
  readonly nextCursor: string;
  /** true when more items exist after this page right now. */
  readonly hasMore: boolean;
}

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=UTF-8';

/** "P" or "P.i": position, and optionally the index inside that position's fan-out. */
export interface Cursor {
  readonly position: number;
  /** null: everything at `position` is included. */
  readonly index: number | null;
}

export function parseCursor(s: string): Cursor | null {
  const m = /^(-1|0|[1-9][0-9]{0,15})(?:\.(0|[1-9][0-9]{0,8}))?$/.exec(s);
  if (!m) return null;
  const position = Number(m[1]);
  if (!Number.isSafeInteger(position)) return null;
  return { position, index: m[2] === undefined ? null : Number(m[2]) };
}

export function formatCursor(c: Cursor): string {
  return c.index === null ? String(c.position) : `${c.position}.${c.index}`;
}

/** true when an item at (position, index) comes after the cursor. */
export function isAfter(position: number, index: number, c: Cursor): boolean {
  if (position !== c.position) return position > c.position;
  return c.index !== null && index > c.index;
}
