// A read model as plain JSON-able data and back, exactly: what a snapshot stores. The image holds what the model holds
// in memory (SHA-256 digests, argon2id hashes, e-mails), never a token or a sealed secret (the model has none).
import type { WorkspaceRole } from '../../events/catalog.js';
import type { LiveMembership, PackedKey } from './key-table.js';
import { ReadModel } from './read-model.js';
import type { InvitationView, UserView } from './views.js';

/** Bump on any change to the layout below: an image of another version is ignored and the log replayed. */
export const IMAGE_VERSION = 1;

type WorkspaceRow = [
  id: string,
  name: string,
  ownerId: string,
  maxTtlSeconds: number | null,
  requireExpiry: boolean,
  maxGraceSeconds: number | null,
  createdAt: number,
  members: Array<[userId: string, role: WorkspaceRole | null]>,
];
type KeyRow = [
  id: string,
  digest: string,
  ownerId: string,
  workspaceId: string,
  scopes: string[] | null,
  start: string,
  name: string,
  packed: PackedKey,
];

export interface ReadModelImage {
  readonly v: typeof IMAGE_VERSION;
  readonly position: number;
  readonly users: UserView[];
  readonly usersByEmail: Array<[email: string, userId: string]>;
  readonly workspaces: WorkspaceRow[];
  /** Each user's workspaces in the model's order (it decides which becomes the default workspace). */
  readonly memberships: Array<[userId: string, workspaceIds: string[]]>;
  readonly invitations: InvitationView[];
  /** In table order: each user's key list is rebuilt in the same order. */
  readonly keys: KeyRow[];
  readonly handles: Array<[userId: string, Array<[handle: string, keyId: string]>]>;
  readonly sessions: Array<[sessionId: string, userId: string, expiresAt: number, ended: boolean]>;
  readonly userSessions: Array<[userId: string, sessionIds: string[]]>;
}

export function toImage(m: ReadModel): ReadModelImage {
  const { memberships, userSessions } = m.internals;
  return {
    v: IMAGE_VERSION,
    position: m.position,
    users: [...m.users.values()].map((u) => ({ ...u })),
    usersByEmail: [...m.usersByEmail].map(([email, u]) => [email, u.id]),
    workspaces: [...m.workspaces.values()].map((w) => [
      w.id,
      w.name,
      w.ownerId,
      w.maxTtlSeconds,
      w.requireExpiry,
      w.maxGraceSeconds,
      w.createdAt,
      [...w.members].map(([u, ms]) => [u, ms.role]),
    ]),
    memberships: [...memberships].map(([u, byWs]) => [u, [...byWs.keys()]]),
    invitations: [...m.invitations.values()].map((i) => ({ ...i })),
    keys: [...m.keysById.values()].map((k) => [
      k.id,
      k.digest,
      k.owner.id,
      k.workspaceId,
      k.scopes === null ? null : [...k.scopes],
      k.start,
      k.name,
      k.pack(),
    ]),
    handles: [...m.handles].map(([u, hs]) => [u, [...hs]]),
    sessions: [...m.sessions].map(([id, s]) => [id, s.userId, s.expiresAt, s.ended]),
    userSessions: [...userSessions].map(([u, ids]) => [u, [...ids]]),
  };
}

/** Rebuilds the model an image was taken of; a TypeError when the image does not hold together. */
export function fromImage(img: ReadModelImage): ReadModel {
  const v: unknown = img.v;
  if (v !== IMAGE_VERSION) throw new TypeError(`read-model image version ${String(v)} is not ${IMAGE_VERSION}`);
  const m = new ReadModel();
  const { memberships, userSessions } = m.internals;
  for (const u of img.users) m.users.set(u.id, { ...u });
  for (const [email, id] of img.usersByEmail) m.usersByEmail.set(email, need(m.users.get(id), 'user', id));
  const byWsUser = new Map<string, LiveMembership>();
  for (const [id, name, ownerId, maxTtlSeconds, requireExpiry, maxGraceSeconds, createdAt, members] of img.workspaces) {
    const ws = { id, name, ownerId, maxTtlSeconds, requireExpiry, maxGraceSeconds, members: new Map(), createdAt };
    for (const [userId, role] of members) {
      const ms: LiveMembership = { workspaceId: id, role };
      ws.members.set(userId, ms);
      byWsUser.set(`${id}\u0000${userId}`, ms);
    }
    m.workspaces.set(id, ws);
  }
  for (const [userId, wsIds] of img.memberships)
    memberships.set(userId, new Map(wsIds.map((w) => [w, need(byWsUser.get(`${w}\u0000${userId}`), 'membership', w)])));
  for (const inv of img.invitations) m.invitations.set(inv.id, { ...inv });
  for (const [id, digest, ownerId, workspaceId, scopes, start, name, packed] of img.keys) {
    const owner = need(m.users.get(ownerId), 'user', ownerId);
    const k = m.keysById.add(digest, {
      id,
      owner,
      membership: need(byWsUser.get(`${workspaceId}\u0000${ownerId}`), 'membership', workspaceId),
      scopes: m.internScopes(scopes),
      start,
      name,
      // Overwritten by unpack: the packed fields are the key's whole state.
      format: 'opaque',
      createdAt: 0,
      expiresAt: null,
      description: null,
      handle: null,
      alias: null,
      retrievable: false,
      rotatedFrom: null,
    });
    if (k === undefined) throw new TypeError(`read-model image holds key ${id} twice`);
    k.unpack(packed);
    let list = m.keysByUser.get(ownerId);
    if (list === undefined) m.keysByUser.set(ownerId, (list = []));
    list.push(k);
  }
  for (const [u, hs] of img.handles) m.handles.set(u, new Map(hs));
  for (const [id, userId, expiresAt, ended] of img.sessions) m.sessions.set(id, { userId, expiresAt, ended });
  for (const [u, ids] of img.userSessions) userSessions.set(u, new Set(ids));
  m.position = img.position;
  return m;
}

function need<T>(v: T | undefined, what: string, id: string): T {
  if (v === undefined) throw new TypeError(`read-model image names ${what} ${id} it does not hold`);
  return v;
}
