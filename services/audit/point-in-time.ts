// A key as it was at an instant or ledger position: its own stream replayed up to then with the real decider,
// rendered by the same view as today's answer. Needs only the ledger, so GET /v1/keys/:id?asOf works without audit.db.
import type { ApiKeyEvent, StoredEvent, WorkspaceRole } from '../../events/catalog.js';
import { occurredAt, streams } from '../../events/catalog.js';
import { NotFoundError } from '../domain/errors.js';
import { toStoredEvent } from '../../events/serialization.js';
import { KeyStatus, type KeyView, type UserView, type WorkspaceView } from '../../projections/read-model/views.js';
import { apiKeyDecider, endOfLife, type ApiKeyState } from '../domain/api-key.js';
import { authorize, type Caller } from '../http/auth.js';
import { HttpError } from '../http/errors.js';
import { keyJson } from '../http/views.js';
import { parseIsoInstant } from '../domain/instant.js';
import { isLive, keyLifePhase, keyPhase, type KeyLifePhase } from '../domain/key-validity.js';
import type { Ledger } from '../ledger.js';

/** Reading the trail (queries, history, point in time) or exporting it. */
export type AuditPermission = 'audit:read' | 'audit:export';

export type AsOf =
  { readonly kind: 'time'; readonly ms: number } | { readonly kind: 'position'; readonly position: number };

/** What a key was doing at that instant; `rotation_grace` is a rotated key still working until its grace ends. */
export type KeyPhase = KeyLifePhase;

function badAsOf(detail: string, attr = 'asOf'): HttpError {
  return new HttpError(400, 'invalid', detail, { attr, type: 'validation_error' });
}

/** An ISO-8601 date-time, or a whole ledger position. */
export function parseAsOf(raw: string, attr = 'asOf'): AsOf {
  if (/^[0-9]{1,15}$/.test(raw)) return { kind: 'position', position: Number(raw) };
  const t = parseIsoInstant(raw);
  if (t === null)
    throw badAsOf(
      `${attr} must be an ISO-8601 date-time (e.g. 2026-01-31T12:00:00Z) or a ledger position (a whole number).`,
      attr,
    );
  return { kind: 'time', ms: t };
}

/** An instant for time-only answers (validAt): ISO-8601 only. */
export function parseInstant(raw: string, attr: string): number {
  const t = parseIsoInstant(raw);
  if (t === null) throw badAsOf(`${attr} must be an ISO-8601 date-time (e.g. 2026-01-31T12:00:00Z).`, attr);
  return t;
}

/** The key addressed by id or one of the caller's live handles (the resolver GET /v1/keys/:idOrHandle uses), for auditing. */
export function auditKey(
  ledger: Ledger,
  caller: Caller,
  idOrHandle: string,
  permission: AuditPermission = 'audit:read',
): KeyView {
  const k = ledger.read.findKeyFor(caller.user.id, idOrHandle);
  // Outside every workspace the caller belongs to, a key is not even acknowledged.
  if (!k) throw new NotFoundError('key', idOrHandle);
  authorize(
    caller,
    permission === 'audit:read' ? 'audit.read' : 'audit.export',
    { kind: 'workspace', workspaceId: k.workspaceId },
    { what: 'key', id: idOrHandle },
  );
  return k;
}

/** A workspace the caller may audit: unknown or foreign → 404, member without the permission → 403. */
export function auditWorkspace(
  ledger: Ledger,
  caller: Caller,
  id: string,
  permission: AuditPermission = 'audit:read',
): WorkspaceView {
  const ws = ledger.read.findWorkspace(id);
  if (!ws || ws.ownerId === '') throw new NotFoundError('workspace', id);
  authorize(
    caller,
    permission === 'audit:read' ? 'audit.read' : 'audit.export',
    { kind: 'workspace', workspaceId: ws.id },
    { what: 'workspace', id },
  );
  return ws;
}

/** The instant the ledger was at `position`: when the event there (or, on stores with gaps, the next one) happened. */
async function instantOf(ledger: Ledger, position: number): Promise<number> {
  const head = await ledger.store.headPosition();
  if (position > head)
    throw new HttpError(400, 'invalid', 'asOf is beyond the ledger head.', {
      attr: 'asOf',
      type: 'validation_error',
      extra: { head },
    });
  const first = await ledger.store.firstEventAtOrAfter(position);
  const e = first ? toStoredEvent(first) : null;
  return e ? occurredAt(e) : ledger.now();
}

interface Folded {
  state: ApiKeyState;
  created: StoredEvent<Extract<ApiKeyEvent, { type: 'ApiKeyCreated' }>> | null;
  useCount: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  revokeReason: string | null;
  expiredAt: number | null;
}

/** Replays the key's events with the decider's evolve, collecting what the view shows beyond the decision state. */
function fold(events: readonly StoredEvent[]): Folded {
  const f: Folded = {
    state: apiKeyDecider.initialState(),
    created: null,
    useCount: 0,
    lastUsedAt: null,
    revokedAt: null,
    revokeReason: null,
    expiredAt: null,
  };
  for (const e of events) {
    if (!e.type.startsWith('ApiKey')) continue;
    const ke = e as StoredEvent<ApiKeyEvent>;
    f.state = apiKeyDecider.evolve(f.state, ke);
    switch (ke.type) {
      case 'ApiKeyCreated':
        f.created ??= ke;
        break;
      case 'ApiKeyUsed': {
        f.useCount += ke.data.count;
        const last = Date.parse(ke.data.lastAt);
        if (f.lastUsedAt === null || last > f.lastUsedAt) f.lastUsedAt = last;
        break;
      }
      case 'ApiKeyRevoked':
        if (f.revokedAt === null) {
          f.revokedAt = occurredAt(ke);
          f.revokeReason = ke.data.reason;
        }
        break;
      case 'ApiKeyExpired':
        f.expiredAt ??= Date.parse(ke.data.expiredAt);
        break;
      default:
        break;
    }
  }
  return f;
}

export function phaseAt(state: Extract<ApiKeyState, { exists: true }>, at: number): KeyPhase {
  return keyLifePhase(state.status, state.expiresAt, state.graceEndsAt, at);
}

/** The owner as they were at that point: active or deactivated, and their role in the key's workspace (null: not a member). */
export interface OwnerThen {
  id: string;
  active: boolean;
  role: WorkspaceRole | null;
}

const STREAM_PAGE = 1000;

/** Every event of a stream at or before `asOf`, oldest first. */
async function streamUpTo(ledger: Ledger, streamId: string, asOf: AsOf): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (let from = 0; ; from += STREAM_PAGE) {
    const page = await ledger.store.readStream(streamId, { fromRevision: from, maxCount: STREAM_PAGE });
    for (const r of page) {
      const e = toStoredEvent(r);
      if (e !== null && (asOf.kind === 'position' ? e.position <= asOf.position : occurredAt(e) <= asOf.ms))
        out.push(e);
    }
    if (page.length < STREAM_PAGE) return out;
  }
}

/** Replays the owner's user stream and the workspace's stream up to asOf: deactivations and membership then. */
async function ownerAsOf(ledger: Ledger, userId: string, workspaceId: string, asOf: AsOf): Promise<OwnerThen> {
  let active = true;
  for (const e of await streamUpTo(ledger, streams.user(userId), asOf)) {
    if (e.type === 'UserDeactivated') active = false;
    else if (e.type === 'UserReactivated') active = true;
  }
  let role: WorkspaceRole | null = null;
  for (const e of await streamUpTo(ledger, streams.workspace(workspaceId), asOf)) {
    if (e.type === 'WorkspaceMemberRoleSet' && e.data.userId === userId) role = e.data.role;
    else if (e.type === 'WorkspaceMemberRemoved' && e.data.userId === userId) role = null;
  }
  return { id: userId, active, role };
}

/**
 * The JSON of GET /v1/keys/:idOrHandle as it would have been at `asOf`, plus `asOf`, `at`, `phase`, the owner as they
 * were then (`owner`: active, role in the workspace) and `wouldVerify` (the key, its owner and the membership all allowed it).
 */
export async function keyAsOf(ledger: Ledger, keyId: string, asOf: AsOf): Promise<Record<string, unknown>> {
  const at = asOf.kind === 'time' ? asOf.ms : await instantOf(ledger, asOf.position);
  const all = (await ledger.store.readStream(streams.apiKey(keyId)))
    .map(toStoredEvent)
    .filter((e): e is StoredEvent => e !== null);
  const upTo = all.filter((e) => (asOf.kind === 'position' ? e.position <= asOf.position : occurredAt(e) <= asOf.ms));
  const f = fold(upTo);
  const c = f.created;
  if (!f.state.exists || c === null) {
    const when = asOf.kind === 'time' ? new Date(asOf.ms).toISOString() : `ledger position ${asOf.position}`;
    const born = all[0] ? ` (it was created at ${all[0].metadata.occurredAt}, position ${all[0].position})` : '';
    throw new HttpError(404, 'not_found', `Key ${keyId} did not exist yet at ${when}${born}.`, { extra: { keyId } });
  }
  const s = f.state;
  const phase = phaseAt(s, at);
  const then = await ownerAsOf(ledger, s.userId, s.workspaceId, asOf);
  // keyJson reads only the owner's id; who the owner was then is in `owner` below.
  const owner: UserView = {
    id: s.userId,
    email: '',
    name: '',
    systemRole: 'user',
    active: then.active,
    passwordHash: '',
    defaultWorkspaceId: null,
    createdAt: 0,
  };
  const view: KeyView = {
    id: s.keyId,
    digest: c.data.digest,
    owner,
    workspaceId: s.workspaceId,
    membership: { role: then.role },
    scopes: c.data.scopes === null ? null : new Set(c.data.scopes),
    format: c.data.format,
    start: c.data.start,
    createdAt: occurredAt(c),
    expiresAt: endOfLife(s) ?? Infinity,
    requestedExpiresAt: s.expiresAt,
    status: phase === 'revoked' ? KeyStatus.Revoked : phase === 'expired' ? KeyStatus.Expired : KeyStatus.Active,
    name: s.name,
    description: s.description,
    handle: c.data.handle,
    alias: s.alias,
    retrievable: s.retrievable,
    rotatedFrom: c.data.rotatedFrom,
    rotatedTo: s.successorId,
    graceEndsAt: s.graceEndsAt,
    lastUsedAt: f.lastUsedAt,
    useCount: f.useCount,
    revokedAt: f.revokedAt,
    revokeReason: f.revokeReason,
    expiredAt: f.expiredAt,
  };
  // keyJson judges status against today's clock and adds unflushed uses: both are overridden with the state then.
  return {
    ...keyJson(ledger, view),
    status: phase === 'revoked' ? 'revoked' : phase === 'expired' ? 'expired' : 'active',
    lastUsedAt: f.lastUsedAt === null ? null : new Date(f.lastUsedAt).toISOString(),
    useCount: f.useCount,
    phase,
    owner: then,
    wouldVerify: isLive(keyPhase(s.status, s.expiresAt, s.graceEndsAt, then.active, then.role, at)),
    asOf: asOf.kind === 'position' ? asOf.position : new Date(asOf.ms).toISOString(),
    at: new Date(at).toISOString(),
  };
}
