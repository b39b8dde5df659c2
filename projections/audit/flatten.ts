// One ledger event as an audit row: the queryable columns, the chain value and the stored export record. Pure, shared
// by both audit stores and the offline verifier, so all of them compute the same bytes.
import { canonicalEvent, canonicalJson, nextChainCanonical, type CanonicalEvent } from '../../events/chain.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { csvPlain, type RowDraft } from './row.js';

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** The key a given event is about, and the digest it carries (ApiKeyCreated only). */
function keyColumns(type: string, data: Record<string, unknown>): { keyId: string | null; digest: string | null } {
  if (!type.startsWith('ApiKey')) return { keyId: null, digest: null };
  return { keyId: str(data.keyId), digest: type === 'ApiKeyCreated' ? str(data.digest) : null };
}

/** Flattens one recorded event into a row, given the previous chain value and the previous row's ms_hw. Pure. */
export function flatten(e: RecordedEvent, prevChain: string, prevHw = 0): RowDraft {
  const data = (e.data ?? {}) as Record<string, unknown>;
  const meta = (e.metadata ?? {}) as Record<string, unknown>;
  const actor = (meta.actor ?? {}) as Record<string, unknown>;
  const request = (meta.request ?? {}) as Record<string, unknown>;
  const occurredAt = str(meta.occurredAt) ?? new Date(0).toISOString();
  const { keyId, digest } = keyColumns(e.type, data);
  const c = canonicalEvent(e); // redacted and canonicalized once: the chain input and the stored copy share it
  const userId = str(data.userId) ?? (e.type === 'WorkspaceCreated' ? str(data.ownerId) : null);
  const occurredMs = Date.parse(occurredAt) || 0;
  const chain = nextChainCanonical(prevChain, c);
  const event = auditCopy(c, e.position);
  // Built once and completed in place (csv_plain reads the finished cells): a catch-up makes millions of these.
  const row: RowDraft = {
    position: e.position,
    event_id: e.id,
    stream_id: e.streamId,
    revision: e.revision,
    type: e.type,
    occurred_at: occurredAt,
    occurred_ms: occurredMs,
    ms_hw: Math.max(prevHw, occurredMs),
    key_id: keyId,
    user_id: userId,
    workspace_id: str(data.workspaceId),
    about_ws: str(data.workspaceId), // key events without one get their key's at insert (by the store)
    actor_type: str(actor.type),
    actor_id: str(actor.id),
    ip: str(request.ip),
    user_agent: str(request.userAgent),
    request_id: str(request.requestId),
    scheme: e.type === 'ApiKeyUsed' ? str(data.presentation) : null,
    token_digest: digest,
    csv_plain: 0,
    line: `{"position":${e.position},"prevChain":"${prevChain}","chain":"${chain}","event":${event}}\n`,
    prev_chain: prevChain,
    chain,
    event,
  };
  row.csv_plain = csvPlain(row) ? 1 : 0;
  return row;
}

/** canonicalJson({id, streamId, revision, position, type, data, metadata}) from the canonical parts (keys in sorted order). */
function auditCopy(c: CanonicalEvent, position: number): string {
  return `{"data":${c.data},"id":${JSON.stringify(c.id)},"metadata":${c.metadata},"position":${canonicalJson(position)},"revision":${canonicalJson(c.revision)},"streamId":${JSON.stringify(c.streamId)},"type":${JSON.stringify(c.type)}}`;
}
