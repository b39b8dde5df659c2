// Verifies a whole event store: recomputes the hash chain, checks every signed checkpoint, and, when the audit read
// model is at hand (audit.db, or the PostgreSQL audit tables), compares position by position with the chain it
// witnessed, to name the exact position of a change.
import { KeyObject, createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { GENESIS_CHAIN, checkpointSigningInput, nextChain } from '../../events/chain.js';
import { readPages } from '../../events/store/read-pages.js';
import type { EventStore, RecordedEvent } from '../../events/store/types.js';
import { openSqliteWitness } from '../../projections/audit/sqlite-store.js';
import type { AuditWitness, WitnessRow } from '../../projections/audit/store.js';

export type DivergenceCode =
  'EDITED' | 'DELETED' | 'INSERTED' | 'REORDERED' | 'CHECKPOINT_SIGNATURE_INVALID' | 'CHECKPOINT_MISMATCH';

export interface VerifyStoreOptions {
  readonly publicKeys: KeyObject[] | JWK[];
  /** audit.db of the same ledger: its recorded chain values let a change be pinned to one position. */
  readonly auditDbFile?: string | undefined;
  /** Or the audit store itself (the PostgreSQL tables); closed by the caller. */
  readonly witness?: AuditWitness | undefined;
  /** Called after each page with the last position read. */
  readonly progress?: ((position: number) => void) | undefined;
  readonly pageSize?: number | undefined;
  /** How many recent chain values to keep for checkpoint checks (tests shrink it to exercise the second pass). */
  readonly window?: number | undefined;
}

export type VerifyStoreResult =
  | { ok: true; events: number; checkpoints: number; lastPosition: number; chain: string; witnessed: boolean }
  | {
      ok: false;
      position: number;
      code: DivergenceCode;
      reason: string;
      /** Highest position up to which the log is proven intact (-1: none). */
      checkedUpTo: number;
      /** CHECKPOINT_MISMATCH without a witness: the change lies in (after, upTo]. */
      range?: { after: number; upTo: number };
    };

const CHECKPOINT_TYPE = 'LedgerCheckpointed';
/** How many recent chain values are kept to check a checkpoint against; older targets get a second pass. */
const WINDOW = 65_536;

interface CheckpointData {
  position: number;
  chain: string;
  at: string;
  kid: string;
  signature: string;
}

class Divergence extends Error {
  constructor(
    readonly position: number,
    readonly code: DivergenceCode,
    readonly reason: string,
    readonly range?: { after: number; upTo: number },
  ) {
    super(reason);
  }
}

/** The result that names the first divergence; nothing at or after it counts as checked. */
function failed(d: Divergence, proven: number): VerifyStoreResult {
  return {
    ok: false,
    position: d.position,
    code: d.code,
    reason: d.reason,
    checkedUpTo: Math.min(proven, d.position - 1),
    ...(d.range ? { range: d.range } : {}),
  };
}

/** kid → public key; a JWK without a kid, or a bare KeyObject, is named by its RFC 7638 thumbprint like ours. */
export async function keysByKid(keys: KeyObject[] | JWK[]): Promise<Map<string, KeyObject>> {
  const out = new Map<string, KeyObject>();
  for (const k of keys) {
    const key =
      k instanceof KeyObject
        ? k.type === 'public'
          ? k
          : createPublicKey(k)
        : createPublicKey({ key: k as JsonWebKey, format: 'jwk' });
    if (key.asymmetricKeyType !== 'ed25519') continue;
    const kid =
      !(k instanceof KeyObject) && typeof k.kid === 'string'
        ? k.kid
        : await calculateJwkThumbprint(await exportJWK(key));
    out.set(kid, key);
  }
  return out;
}

function checkpointData(e: RecordedEvent): CheckpointData | null {
  const d = e.data as Partial<CheckpointData> | null;
  if (
    !d ||
    typeof d.position !== 'number' ||
    typeof d.chain !== 'string' ||
    typeof d.at !== 'string' ||
    typeof d.kid !== 'string' ||
    typeof d.signature !== 'string'
  )
    return null;
  return d as CheckpointData;
}

function signatureValid(c: CheckpointData, keys: Map<string, KeyObject>): string | null {
  const key = keys.get(c.kid);
  if (!key) return `signed by unknown key ${c.kid}`;
  const ok = verify(
    null,
    checkpointSigningInput({ position: c.position, chain: c.chain, at: c.at }),
    key,
    Buffer.from(c.signature, 'base64url'),
  );
  return ok ? null : `signature by ${c.kid} does not verify`;
}

/** Witness rows read per query. */
const WITNESS_PAGE = 5000;

/** The witness: the audit read model's (position, event_id, chain), read in position order alongside the log. */
class Witness {
  private page: WitnessRow[] = [];
  private next = 0;
  private after = -1;
  private done = false;
  head: WitnessRow | null = null;

  private constructor(
    private readonly source: AuditWitness,
    private readonly owned: boolean,
  ) {}

  static async open(opts: VerifyStoreOptions): Promise<Witness | null> {
    const owned = opts.witness === undefined;
    const source = opts.witness ?? (opts.auditDbFile ? openSqliteWitness(opts.auditDbFile) : null);
    if (!source) return null;
    const w = new Witness(source, owned);
    await w.advance();
    return w;
  }

  async advance(): Promise<void> {
    if (this.next >= this.page.length && !this.done) {
      this.page = await this.source.witnessRows(this.after, Number.MAX_SAFE_INTEGER, WITNESS_PAGE);
      this.next = 0;
      this.done = this.page.length < WITNESS_PAGE;
      this.after = this.page[this.page.length - 1]?.position ?? this.after;
    }
    this.head = this.page[this.next++] ?? null;
  }

  positionOf(eventId: string): Promise<number | null> {
    return this.source.positionOf(eventId);
  }

  async close(): Promise<void> {
    if (this.owned) await this.source.close();
  }

  /** Compares one log event (with its recomputed chain) against the witness; throws the first divergence. */
  async check(e: RecordedEvent, chain: string): Promise<boolean> {
    const w0 = this.head;
    if (w0 && w0.position < e.position)
      throw new Divergence(
        w0.position,
        'DELETED',
        `the witness has event ${w0.event_id} at position ${w0.position}; the log has no position ${w0.position}`,
      );
    const w = this.head;
    if (!w) return false; // the witness ends here (it may lag the log): nothing more to compare
    if (w.position > e.position) {
      throw new Divergence(
        e.position,
        'INSERTED',
        `the log has event ${e.id} at position ${e.position}; the witness has no position ${e.position}`,
      );
    }
    if (w.event_id !== e.id) {
      const elsewhere = await this.positionOf(e.id);
      if (elsewhere !== null) {
        throw new Divergence(
          e.position,
          'REORDERED',
          `event ${e.id} is at position ${e.position}; the witness has it at position ${elsewhere} (and ${w.event_id} here)`,
        );
      }
      throw new Divergence(
        e.position,
        'INSERTED',
        `the log has event ${e.id} at position ${e.position}, which the witness never saw (it has ${w.event_id} there)`,
      );
    }
    if (w.chain !== chain)
      throw new Divergence(
        e.position,
        'EDITED',
        `event ${e.id} at position ${e.position} differs from what the witness recorded (chain ${chain.slice(0, 16)}… ≠ ${w.chain.slice(0, 16)}…)`,
      );
    await this.advance();
    return true;
  }

  /**
   * After the log ends: a witness row beyond it means events were cut from the end, unless the log has that very
   * event there now (a live writer appended it, and the audit writer applied it, while the log was being read).
   */
  async checkEnd(store: EventStore, lastPosition: number): Promise<void> {
    const w = this.head;
    if (!w) return;
    const [next] = (await store.readAll({ after: lastPosition, maxCount: 1 })).events;
    if (next?.position === w.position && next.id === w.event_id) return;
    throw new Divergence(
      w.position,
      'DELETED',
      `the witness has event ${w.event_id} at position ${w.position}; the log ends before it`,
    );
  }
}

/** The chain values of the last `size` events, oldest first; positions increase, so lookup is a binary search. */
class RecentChains {
  private readonly positions: number[] = [];
  private readonly chains: string[] = [];
  private start = 0; // index of the oldest entry once the ring is full

  constructor(private readonly size: number) {}

  push(position: number, chain: string): void {
    if (this.positions.length < this.size) {
      this.positions.push(position);
      this.chains.push(chain);
      return;
    }
    this.positions[this.start] = position;
    this.chains[this.start] = chain;
    this.start = (this.start + 1) % this.size;
  }

  /** Oldest position still held (Infinity when empty). */
  get oldest(): number {
    return this.positions[this.start] ?? Infinity;
  }

  get(position: number): string | undefined {
    const n = this.positions.length;
    let lo = 0;
    let hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const i = (this.start + mid) % n;
      const p = this.positions[i]!;
      if (p === position) return this.chains[i];
      if (p < position) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}

interface Deferred {
  readonly at: number; // the checkpoint event's own position
  readonly data: CheckpointData;
  readonly after: number; // previous good checkpoint's covered position
}

/** Reads the whole log once (bounded memory) and reports the first divergence in log order. */
export async function verifyStore(store: EventStore, opts: VerifyStoreOptions): Promise<VerifyStoreResult> {
  const keys = await keysByKid(opts.publicKeys);
  const pageSize = opts.pageSize ?? 5000;
  const window = opts.window ?? WINDOW;
  const witness = await Witness.open(opts);
  const recent = new RecentChains(window);
  const deferred: Deferred[] = [];
  let chain = GENESIS_CHAIN;
  let events = 0;
  let checkpoints = 0;
  let lastPosition = -1;
  let proven = -1; // witnessed or covered by a good checkpoint
  let goodCheckpoint = -1; // covered position of the last checkpoint that matched
  try {
    for await (const page of readPages(store, { pageSize, ...(opts.progress ? { progress: opts.progress } : {}) }))
      for (const e of page) {
        chain = nextChain(chain, e);
        events++;
        lastPosition = e.position;
        recent.push(e.position, chain);
        const cp = e.type === CHECKPOINT_TYPE ? checkpointData(e) : null;
        if (e.type === CHECKPOINT_TYPE) {
          // The signature first: a forged checkpoint is the more precise finding than "this event was edited".
          if (!cp)
            throw new Divergence(
              e.position,
              'CHECKPOINT_SIGNATURE_INVALID',
              `checkpoint at position ${e.position} is malformed`,
            );
          const bad = signatureValid(cp, keys);
          if (bad)
            throw new Divergence(
              e.position,
              'CHECKPOINT_SIGNATURE_INVALID',
              `checkpoint at position ${e.position}: ${bad}`,
            );
          checkpoints++;
        }
        if (witness && (await witness.check(e, chain))) proven = e.position;
        if (cp) {
          const expected = cp.position < e.position ? recent.get(cp.position) : undefined; // a checkpoint covers only what precedes it
          if (expected === undefined && cp.position < e.position && cp.position < recent.oldest) {
            deferred.push({ at: e.position, data: cp, after: goodCheckpoint }); // older than the window: second pass
          } else if (expected !== cp.chain) {
            throw mismatch(
              e.position,
              cp,
              goodCheckpoint,
              expected === undefined ? 'is not a position before it in the log' : 'does not match the recomputed chain',
            );
          } else {
            goodCheckpoint = Math.max(goodCheckpoint, cp.position);
            proven = Math.max(proven, cp.position);
          }
        }
      }
    await witness?.checkEnd(store, lastPosition);
  } catch (err) {
    if (!(err instanceof Divergence)) throw err;
    const earlier = await secondPass(
      store,
      pageSize,
      deferred.filter((d) => d.at < err.position),
    );
    return failed(earlier ?? err, proven);
  } finally {
    await witness?.close();
  }
  const late = await secondPass(store, pageSize, deferred);
  if (late) return failed(late, proven);
  return { ok: true, events, checkpoints, lastPosition, chain, witnessed: witness !== null };
}

function mismatch(at: number, cp: CheckpointData, after: number, why: string): Divergence {
  return new Divergence(
    at,
    'CHECKPOINT_MISMATCH',
    `checkpoint at position ${at} signs chain ${cp.chain.slice(0, 16)}… at position ${cp.position}, which ${why}; the log was changed in positions (${after}, ${cp.position}]`,
    { after, upTo: cp.position },
  );
}

/** Checks checkpoints whose target fell out of the window, recomputing the chain up to the last of them. */
async function secondPass(
  store: EventStore,
  pageSize: number,
  pending: readonly Deferred[],
): Promise<Divergence | null> {
  if (pending.length === 0) return null;
  const wanted = new Map<number, Deferred[]>();
  for (const d of pending) wanted.set(d.data.position, [...(wanted.get(d.data.position) ?? []), d]);
  const upTo = Math.max(...pending.map((d) => d.data.position));
  const found = new Map<number, string>();
  let chain = GENESIS_CHAIN;
  scan: for await (const page of readPages(store, { pageSize }))
    for (const e of page) {
      if (e.position > upTo) break scan;
      chain = nextChain(chain, e);
      if (wanted.has(e.position)) found.set(e.position, chain);
    }
  // Report the earliest failing checkpoint in log order.
  for (const d of [...pending].sort((a, b) => a.at - b.at)) {
    const got = found.get(d.data.position);
    if (got !== d.data.chain)
      return mismatch(
        d.at,
        d.data,
        d.after,
        got === undefined ? 'is not a position in the log' : 'does not match the recomputed chain',
      );
  }
  return null;
}
