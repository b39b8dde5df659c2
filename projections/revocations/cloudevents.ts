// Ledger events → CloudEvents 1.0 in structured mode (JSON value, content-type application/cloudevents+json), with
// the attributes repeated as ce_* headers so consumers can route without parsing. Secrets never leave: digests,
// sealed secrets and password hashes are stripped, and tokens are never part of an event.
import type { StoredEvent } from '../../events/catalog.js';
import {
  HEARTBEAT_KEY,
  HEARTBEAT_TYPE,
  REVOCATION_TYPES,
  formatCursor,
  type CloudEvent,
  type HeartbeatData,
  type HeartbeatEvent,
  type RevocationData,
  type RevocationEvent,
  type RevocationType,
} from '../../clients/protocol.js';
import type { RevocationItem } from './fanout.js';

export const DEFAULT_SOURCE = '/token-ledger';

/** Field names that hold secret material or a digest of it, anywhere in an event's data. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['digest', 'sealed', 'passwordHash', 'token', 'secret', 'password']);

/** `data` without secret-bearing fields: a deep copy when it holds one, else `data` itself (events are immutable). */
export function stripSecrets(data: unknown): unknown {
  return holdsSecret(data) ? copyWithoutSecrets(data) : data;
}

/** Whether a secret-bearing field occurs at any depth; allocates nothing (most events, uses above all, hold none). */
function holdsSecret(data: unknown): boolean {
  if (data === null || typeof data !== 'object') return false;
  if (Array.isArray(data)) return data.some(holdsSecret);
  for (const k in data) {
    if (!Object.hasOwn(data, k)) continue;
    if (SECRET_FIELDS.has(k) || holdsSecret((data as Record<string, unknown>)[k])) return true;
  }
  return false;
}

function copyWithoutSecrets(data: unknown): unknown {
  if (Array.isArray(data)) return data.map(copyWithoutSecrets);
  if (data === null || typeof data !== 'object') return data;
  // No prototype: a member named `__proto__` (JSON.parse makes it an own member) stays a member of the copy.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    if (SECRET_FIELDS.has(k)) continue;
    out[k] = copyWithoutSecrets(v);
  }
  return out;
}

const STREAM_PREFIXES = ['apikey-', 'user-', 'workspace-'] as const;

/** The aggregate an event belongs to (key, user or workspace id); other streams are named by their stream id. */
export function aggregateId(streamId: string): string {
  for (const p of STREAM_PREFIXES) if (streamId.startsWith(p)) return streamId.slice(p.length);
  return streamId;
}

/** CloudEvent type of a ledger event on the all-events topic: `io.token-ledger.<LedgerEventType>`. */
export function ledgerEventType(type: string): string {
  return `io.token-ledger.${type}`;
}

const actorOf = (e: StoredEvent): string | undefined =>
  e.metadata.actor ? `${e.metadata.actor.type}:${e.metadata.actor.id}` : undefined;

/** The all-events topic's CloudEvent for one ledger event. */
export function ledgerCloudEvent(e: StoredEvent, source = DEFAULT_SOURCE): CloudEvent<Record<string, unknown>> {
  const actor = actorOf(e);
  return {
    specversion: '1.0',
    id: e.metadata.eventId,
    source,
    type: ledgerEventType(e.type),
    subject: aggregateId(e.streamId),
    time: e.metadata.occurredAt,
    datacontenttype: 'application/json',
    data: stripSecrets(e.data) as Record<string, unknown>,
    ledgerposition: e.position,
    ledgercursor: String(e.position),
    ...(actor === undefined ? {} : { ledgeractor: actor }),
  };
}

function revocationType(it: RevocationItem): RevocationType {
  if (it.action === 'reinstate') return REVOCATION_TYPES.reinstated;
  if (it.action === 'restrict') return REVOCATION_TYPES.restricted;
  switch (it.cause) {
    case 'revoked':
      return REVOCATION_TYPES.revoked;
    case 'expired':
      return REVOCATION_TYPES.expired;
    case 'rotated':
      return REVOCATION_TYPES.retired;
    default:
      return REVOCATION_TYPES.suspended;
  }
}

/** True for ledger events that address one key directly (their CloudEvent id is the ledger event id). */
const isKeyEvent = (e: StoredEvent): boolean => e.type === 'ApiKeyRevoked' || e.type === 'ApiKeyExpired';

/**
 * The revocation-class CloudEvents of one ledger event, one per affected key. Ids are stable across replays:
 * the ledger event id for a key's own event, `${eventId}:${keyId}` for a per-key fan-out.
 */
export function revocationCloudEvents(
  e: StoredEvent,
  items: readonly RevocationItem[],
  source = DEFAULT_SOURCE,
): RevocationEvent[] {
  // Most events revoke nothing: they leave here with their metadata unparsed (the feed replays every event).
  if (items.length === 0) return [];
  const actor = actorOf(e);
  return items.map((it, i) => {
    const data: RevocationData = {
      keyId: it.keyId,
      userId: it.userId,
      workspaceId: it.workspaceId,
      action: it.action,
      cause: it.cause,
      terminal: it.terminal,
      reason: it.reason,
      // Terminal items say nothing about scopes; they stay as they were before scopes existed.
      ...(it.scopes === undefined ? {} : { scopes: [...it.scopes] }),
      ledgerEventId: e.metadata.eventId,
      ledgerEventType: e.type,
      occurredAt: e.metadata.occurredAt,
    };
    return {
      specversion: '1.0',
      id: isKeyEvent(e) && items.length === 1 ? e.metadata.eventId : `${e.metadata.eventId}:${it.keyId}`,
      source,
      type: revocationType(it),
      subject: it.keyId,
      time: e.metadata.occurredAt,
      datacontenttype: 'application/json',
      data,
      ledgerposition: e.position,
      ledgercursor: formatCursor({ position: e.position, index: i === items.length - 1 ? null : i }),
      ...(actor === undefined ? {} : { ledgeractor: actor }),
    };
  });
}

/** The publisher's heartbeat on the revocations topic (key HEARTBEAT_KEY; a compacted topic keeps the latest). */
export function heartbeatCloudEvent(
  data: HeartbeatData,
  id: string,
  time: Date,
  source = DEFAULT_SOURCE,
): HeartbeatEvent {
  return {
    specversion: '1.0',
    id,
    source,
    type: HEARTBEAT_TYPE,
    subject: HEARTBEAT_KEY,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    data,
    ledgerposition: data.checkpoint,
    ledgercursor: String(data.checkpoint),
  };
}
