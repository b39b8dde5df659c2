// Compact storage for the read model's keys: objects with packed fields, and two open-addressing
// indexes (by SHA-256 digest, by id) in typed arrays instead of Maps, so 1M keys fit in ~300 MB.
import type { KeyFormat } from '../../events/catalog.js';
import type { KeyStatus, KeyView, Membership, UserView } from './views.js';

/** Times are stored as Smi seconds since 2020 plus 10 bits of milliseconds; outside ±68 years they are just numbers. */
const EPOCH = Date.UTC(2020, 0, 1);
const NEVER = -1;

// flags: status 2 bits | jwt 1 | retrievable 1 | created ms 10 | expiry ms 10 | grace 1
const STATUS = 0b11;
const JWT = 1 << 2;
const RETRIEVABLE = 1 << 3;
const CREATED_MS = 4;
const EXPIRY_MS = 14;
const MS = 1023;
/** Set while the extras hold a rotation grace: verify reads every key's grace, and most keys' extras are cold. */
const GRACE = 1 << 24;

/** The membership object a key shares with every key of the same owner in the same workspace. */
export interface LiveMembership extends Membership {
  readonly workspaceId: string;
}

/** Fields most keys never set, kept off the hot object until one is. */
interface Extras {
  description: string | null;
  handle: string | null;
  alias: string | null;
  rotatedFrom: string | null;
  rotatedTo: string | null;
  graceEndsAt: number | null;
  requestedExpiresAt: number | null | undefined; // recorded once a rotation grace lowers the effective expiry
  lastUsedAt: number | null;
  useCount: number;
  revokedAt: number | null;
  revokeReason: string | null;
  expiredAt: number | null;
}

/** Extras in field order; `false` for a requested expiry not recorded yet (JSON has no undefined). */
type PackedExtras = [
  description: string | null,
  handle: string | null,
  alias: string | null,
  rotatedFrom: string | null,
  rotatedTo: string | null,
  graceEndsAt: number | null,
  requestedExpiresAt: number | null | false,
  lastUsedAt: number | null,
  useCount: number,
  revokedAt: number | null,
  revokeReason: string | null,
  expiredAt: number | null,
];
/** A key's packed state: flags, created and expiry seconds, extras. */
export type PackedKey = [flags: number, createdSec: number, expirySec: number, extras: PackedExtras | null];

function splitTime(ms: number): { sec: number; ms: number } {
  const rel = ms - EPOCH;
  const sec = Math.floor(rel / 1000);
  return { sec, ms: rel - sec * 1000 };
}

/** What a new key is made from: the KeyView fields it starts with, its shared membership, and its requested expiry. */
export type NewKey = Pick<
  KeyView,
  | 'id'
  | 'owner'
  | 'scopes'
  | 'format'
  | 'start'
  | 'createdAt'
  | 'name'
  | 'description'
  | 'handle'
  | 'alias'
  | 'retrievable'
  | 'rotatedFrom'
> & { membership: LiveMembership; expiresAt: number | null };

/** One key of the live read model; implements the KeyView every consumer reads. */
export class LiveKey implements KeyView {
  readonly id: string;
  readonly owner: UserView;
  readonly membership: LiveMembership;
  readonly scopes: ReadonlySet<string> | null;
  readonly start: string;
  name: string;
  private flags: number;
  private createdSec: number;
  private expirySec: number;
  private x: Extras | null = null;

  constructor(
    private readonly table: KeyTable,
    private readonly row: number,
    k: NewKey,
  ) {
    this.id = k.id;
    this.owner = k.owner;
    this.membership = k.membership;
    this.scopes = k.scopes;
    this.start = k.start;
    this.name = k.name;
    const c = splitTime(k.createdAt);
    this.createdSec = c.sec;
    let flags = (k.format === 'jwt' ? JWT : 0) | (k.retrievable ? RETRIEVABLE : 0) | (c.ms << CREATED_MS);
    if (k.expiresAt === null) this.expirySec = NEVER;
    else {
      const e = splitTime(k.expiresAt);
      this.expirySec = e.sec;
      flags |= e.ms << EXPIRY_MS;
    }
    this.flags = flags;
    if (k.description !== null || k.handle !== null || k.alias !== null || k.rotatedFrom !== null) {
      const x = this.extras();
      x.description = k.description;
      x.handle = k.handle;
      x.alias = k.alias;
      x.rotatedFrom = k.rotatedFrom;
    }
  }

  private extras(): Extras {
    return (this.x ??= {
      description: null,
      handle: null,
      alias: null,
      rotatedFrom: null,
      rotatedTo: null,
      graceEndsAt: null,
      requestedExpiresAt: undefined,
      lastUsedAt: null,
      useCount: 0,
      revokedAt: null,
      revokeReason: null,
      expiredAt: null,
    });
  }

  get digest(): string {
    return this.table.digestHex(this.row);
  }
  get workspaceId(): string {
    return this.membership.workspaceId;
  }
  get format(): KeyFormat {
    return this.flags & JWT ? 'jwt' : 'opaque';
  }
  get retrievable(): boolean {
    return (this.flags & RETRIEVABLE) !== 0;
  }
  get status(): KeyStatus {
    return (this.flags & STATUS) as KeyStatus;
  }
  set status(s: KeyStatus) {
    this.flags = (this.flags & ~STATUS) | s;
  }
  get createdAt(): number {
    return EPOCH + this.createdSec * 1000 + ((this.flags >>> CREATED_MS) & MS);
  }
  /** ms; Infinity when the key never expires; lowered to the end of a rotation grace. */
  get expiresAt(): number {
    return this.expirySec === NEVER ? Infinity : EPOCH + this.expirySec * 1000 + ((this.flags >>> EXPIRY_MS) & MS);
  }
  set expiresAt(ms: number) {
    const x = this.extras();
    if (x.requestedExpiresAt === undefined) x.requestedExpiresAt = this.requestedExpiresAt;
    if (!Number.isFinite(ms)) {
      this.expirySec = NEVER;
      return;
    }
    const e = splitTime(ms);
    this.expirySec = e.sec;
    this.flags = (this.flags & ~(MS << EXPIRY_MS)) | (e.ms << EXPIRY_MS);
  }
  get requestedExpiresAt(): number | null {
    const r = this.x?.requestedExpiresAt;
    if (r !== undefined) return r;
    const e = this.expiresAt;
    return Number.isFinite(e) ? e : null;
  }
  get description(): string | null {
    return this.x?.description ?? null;
  }
  set description(v: string | null) {
    this.extras().description = v;
  }
  get handle(): string | null {
    return this.x?.handle ?? null;
  }
  get alias(): string | null {
    return this.x?.alias ?? null;
  }
  set alias(v: string | null) {
    this.extras().alias = v;
  }
  get rotatedFrom(): string | null {
    return this.x?.rotatedFrom ?? null;
  }
  get rotatedTo(): string | null {
    return this.x?.rotatedTo ?? null;
  }
  set rotatedTo(v: string | null) {
    this.extras().rotatedTo = v;
  }
  get graceEndsAt(): number | null {
    return this.flags & GRACE ? this.x!.graceEndsAt : null; // the flag is set only with the extras
  }
  set graceEndsAt(v: number | null) {
    this.extras().graceEndsAt = v;
    this.flags = v === null ? this.flags & ~GRACE : this.flags | GRACE;
  }
  get lastUsedAt(): number | null {
    return this.x?.lastUsedAt ?? null;
  }
  set lastUsedAt(v: number | null) {
    this.extras().lastUsedAt = v;
  }
  get useCount(): number {
    return this.x?.useCount ?? 0;
  }
  set useCount(v: number) {
    this.extras().useCount = v;
  }
  get revokedAt(): number | null {
    return this.x?.revokedAt ?? null;
  }
  set revokedAt(v: number | null) {
    this.extras().revokedAt = v;
  }
  get revokeReason(): string | null {
    return this.x?.revokeReason ?? null;
  }
  set revokeReason(v: string | null) {
    this.extras().revokeReason = v;
  }
  get expiredAt(): number | null {
    return this.x?.expiredAt ?? null;
  }
  set expiredAt(v: number | null) {
    this.extras().expiredAt = v;
  }

  /** The packed fields exactly as held, for a read-model image; `unpack` restores them. */
  pack(): PackedKey {
    const x = this.x;
    const extras: PackedExtras | null =
      x === null
        ? null
        : [
            x.description,
            x.handle,
            x.alias,
            x.rotatedFrom,
            x.rotatedTo,
            x.graceEndsAt,
            x.requestedExpiresAt === undefined ? false : x.requestedExpiresAt,
            x.lastUsedAt,
            x.useCount,
            x.revokedAt,
            x.revokeReason,
            x.expiredAt,
          ];
    return [this.flags & ~GRACE, this.createdSec, this.expirySec, extras]; // images keep their shape: grace is in the extras
  }

  unpack(p: PackedKey): void {
    const [flags, createdSec, expirySec, e] = p;
    this.flags = e !== null && e[5] !== null ? flags | GRACE : flags & ~GRACE;
    this.createdSec = createdSec;
    this.expirySec = expirySec;
    this.x =
      e === null
        ? null
        : {
            description: e[0],
            handle: e[1],
            alias: e[2],
            rotatedFrom: e[3],
            rotatedTo: e[4],
            graceEndsAt: e[5],
            requestedExpiresAt: e[6] === false ? undefined : e[6],
            lastUsedAt: e[7],
            useCount: e[8],
            revokedAt: e[9],
            revokeReason: e[10],
            expiredAt: e[11],
          };
  }

  /** Plain data, for snapshots and debugging (getters are not own properties). */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of KEY_FIELDS) out[f] = this[f];
    return out;
  }
}

const KEY_FIELDS = [
  'id',
  'digest',
  'owner',
  'workspaceId',
  'membership',
  'scopes',
  'format',
  'start',
  'createdAt',
  'expiresAt',
  'requestedExpiresAt',
  'status',
  'name',
  'description',
  'handle',
  'alias',
  'retrievable',
  'rotatedFrom',
  'rotatedTo',
  'graceEndsAt',
  'lastUsedAt',
  'useCount',
  'revokedAt',
  'revokeReason',
  'expiredAt',
] as const satisfies ReadonlyArray<keyof KeyView>;

const HEX = '0123456789abcdef';
function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** FNV-1a over the char codes: ids are random after their prefix, so this spreads them well. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Keys in insertion order, found by digest (raw 32 bytes) or by id. */
export class KeyTable {
  private readonly keys: LiveKey[] = [];
  private digests = new Uint8Array(32 * 1024);
  private byDigest = new Int32Array(2048); // row + 1; 0 = empty
  private byId = new Int32Array(2048);
  /** Each row's id hash: a probe compares it before touching the key, and a resize rehashes without the keys. */
  private idHashes = new Int32Array(1024);

  get size(): number {
    return this.keys.length;
  }

  /** Adds a key whose digest is given as 64 hex chars; returns undefined if the digest or id is already held. */
  add(digestHex: string, k: NewKey): LiveKey | undefined {
    if (digestHex.length !== 64) throw new TypeError('digest must be 64 hex chars');
    const row = this.keys.length;
    this.ensureCapacity(row + 1);
    const at = row * 32;
    for (let i = 0; i < 32; i++) {
      const hi = hexNibble(digestHex.charCodeAt(2 * i));
      const lo = hexNibble(digestHex.charCodeAt(2 * i + 1));
      if ((hi | lo) < 0) throw new TypeError('digest must be 64 hex chars');
      this.digests[at + i] = (hi << 4) | lo;
    }
    if (this.findDigestRow(this.digests, at) >= 0 || this.get(k.id) !== undefined) return undefined;
    const key = new LiveKey(this, row, k);
    this.keys.push(key);
    this.insert(this.byDigest, this.digestSlot(this.digests, at), row);
    const h = hashString(k.id);
    this.idHashes[row] = h;
    this.insert(this.byId, h, row);
    return key;
  }

  /** The key whose SHA-256 digest is `raw` (32 latin1 chars, as crypto.hash(…, 'latin1') returns); compared in constant time. */
  byRawDigest(raw: string): LiveKey | undefined {
    if (raw.length !== 32) return undefined;
    const mask = this.byDigest.length - 1;
    let slot =
      ((raw.charCodeAt(0) << 24) | (raw.charCodeAt(1) << 16) | (raw.charCodeAt(2) << 8) | raw.charCodeAt(3)) & mask;
    for (;;) {
      const v = this.byDigest[slot]!;
      if (v === 0) return undefined;
      const at = (v - 1) * 32;
      let diff = 0;
      for (let i = 0; i < 32; i++) diff |= this.digests[at + i]! ^ raw.charCodeAt(i);
      if (diff === 0) return this.keys[v - 1];
      slot = (slot + 1) & mask;
    }
  }

  get(id: string): LiveKey | undefined {
    const mask = this.byId.length - 1;
    const h = hashString(id) | 0;
    let slot = h & mask;
    for (;;) {
      const v = this.byId[slot]!;
      if (v === 0) return undefined;
      if (this.idHashes[v - 1] === h) {
        const k = this.keys[v - 1]!;
        if (k.id === id) return k;
      }
      slot = (slot + 1) & mask;
    }
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  values(): IterableIterator<LiveKey> {
    return this.keys.values();
  }

  digestHex(row: number): string {
    let s = '';
    for (let i = row * 32, end = i + 32; i < end; i++) {
      const b = this.digests[i]!;
      s += HEX[b >>> 4]! + HEX[b & 15]!;
    }
    return s;
  }

  private digestSlot(bytes: Uint8Array, at: number): number {
    return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  }

  private findDigestRow(bytes: Uint8Array, at: number): number {
    const mask = this.byDigest.length - 1;
    let slot = this.digestSlot(bytes, at) & mask;
    for (;;) {
      const v = this.byDigest[slot]!;
      if (v === 0) return -1;
      const other = (v - 1) * 32;
      if (other !== at) {
        let same = true;
        for (let i = 0; i < 32 && same; i++) same = this.digests[other + i] === bytes[at + i];
        if (same) return v - 1;
      }
      slot = (slot + 1) & mask;
    }
  }

  private insert(index: Int32Array, hash: number, row: number): void {
    const mask = index.length - 1;
    let slot = hash & mask;
    while (index[slot] !== 0) slot = (slot + 1) & mask;
    index[slot] = row + 1;
  }

  /** Keeps both indexes at most half full and the row columns large enough, doubling as needed. */
  private ensureCapacity(rows: number): void {
    if (rows * 32 > this.digests.length) {
      const next = new Uint8Array(Math.max(this.digests.length * 2, rows * 32));
      next.set(this.digests);
      this.digests = next;
    }
    if (rows > this.idHashes.length) {
      const next = new Int32Array(Math.max(this.idHashes.length * 2, rows));
      next.set(this.idHashes);
      this.idHashes = next;
    }
    if (rows * 2 <= this.byDigest.length) return;
    let cap = this.byDigest.length;
    while (rows * 2 > cap) cap *= 2;
    this.byDigest = new Int32Array(cap);
    this.byId = new Int32Array(cap);
    for (let row = 0; row < this.keys.length; row++) {
      this.insert(this.byDigest, this.digestSlot(this.digests, row * 32), row);
      this.insert(this.byId, this.idHashes[row]!, row);
    }
  }
}
