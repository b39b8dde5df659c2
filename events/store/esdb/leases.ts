// Leases on EventStoreDB: one small stream per lease, written with an expected revision read from the leader. A holder
// renews before its `until`; a renewal refused (someone else wrote) or not confirmed by `until` loses the lease, so the
// work stops before any other instance may take it over. Release appends a record that frees the lease at once.
//
// Clock assumption: the instances' wall clocks differ by at most `skewMs` (NTP keeps them within milliseconds). A holder
// stops at `until` on its own clock; another instance takes over only after `until + skewMs` on its clock, which is
// after `until` on the holder's. Takeover after kill -9 is at most ttlMs + skewMs + pollMs (defaults: 5 + 1 + 1 s).
import { BACKWARDS, END, StreamNotFoundError, WrongExpectedVersionError, jsonEvent } from '@eventstore/db-client';
import type { AppendExpectedRevision } from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LedgerError } from '../../errors.js';
import type { Lease, LeaseInfo, Leases } from '../leases.js';
import { translateEsdbError } from './errors.js';
import { LEASE_STREAM_PREFIX } from './records.js';
import { connect, wireOf, type EsdbClientLike, type EsdbWire } from './wire.js';

export interface EsdbLeaseOptions {
  /** How long a grant or renewal holds without another renewal (ms). */
  readonly ttlMs?: number;
  /** How often the holder renews (ms); well below ttlMs, so a slow or failed renewal can be tried again in time. */
  readonly renewMs?: number;
  /** How often a waiting instance looks at a held lease (ms). */
  readonly pollMs?: number;
  /** The most the instances' clocks may differ (ms); see the assumption above. */
  readonly skewMs?: number;
  /** Events kept per lease stream ($maxCount): older ones become scavengeable. */
  readonly keep?: number;
  /** Test seam: use this client instead of connecting to the url. */
  readonly client?: EsdbClientLike;
}

const TAKEN = 'LeaseTaken';
const RELEASED = 'LeaseReleased';

interface LeaseRecord {
  readonly type: string;
  readonly holder: string;
  /** When this grant lapses (ms since the epoch, the writer's clock); 0 for a release. */
  readonly until: number;
  /** When the holder first took it (ISO 8601). */
  readonly since: string;
}

interface State {
  /** The stream's revision, the expected revision of the next write. */
  readonly expected: AppendExpectedRevision;
  readonly last: LeaseRecord | null;
}

export const leaseStream = (name: string): string => `${LEASE_STREAM_PREFIX}${name}`;

function parse(type: string, data: unknown): LeaseRecord | null {
  const d = data as Partial<LeaseRecord> | null;
  if ((type !== TAKEN && type !== RELEASED) || typeof d?.holder !== 'string') return null;
  return {
    type,
    holder: d.holder,
    until: typeof d.until === 'number' ? d.until : 0,
    since: typeof d.since === 'string' ? d.since : '',
  };
}

export class EsdbLeases implements Leases {
  private readonly wire: EsdbWire;
  private readonly ttlMs: number;
  private readonly renewMs: number;
  private readonly pollMs: number;
  private readonly skewMs: number;
  private readonly keep: number;
  private readonly held = new Map<string, () => void>();
  /** Lease streams whose $maxCount this instance has set. */
  private readonly capped = new Set<string>();
  /** Every lease this instance has asked for: what list() reports. */
  private readonly seen = new Set<string>();
  private closed = false;

  constructor(
    url: string,
    readonly instanceId: string,
    opts: EsdbLeaseOptions = {},
  ) {
    this.wire = opts.client ? (opts.client as unknown as EsdbWire) : wireOf(connect(url));
    this.ttlMs = opts.ttlMs ?? 5000;
    this.renewMs = opts.renewMs ?? 1500;
    this.pollMs = opts.pollMs ?? 1000;
    this.skewMs = opts.skewMs ?? 1000;
    this.keep = opts.keep ?? 10;
    if (!(this.renewMs > 0 && this.renewMs * 2 <= this.ttlMs))
      throw new TypeError(`lease renewMs (${this.renewMs}) must be positive and at most half of ttlMs (${this.ttlMs})`);
  }

  /** The lease's newest record and revision, read from the leader (a follower may lag behind the last write). */
  private async state(name: string): Promise<State> {
    try {
      for await (const r of this.wire.readStream(leaseStream(name), {
        fromRevision: END,
        maxCount: 1,
        direction: BACKWARDS,
        resolveLinkTos: false,
        requiresLeader: true,
      })) {
        if (r.event) return { expected: r.event.revision, last: parse(r.event.type, r.event.data) };
      }
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw translateEsdbError(err, 'read lease');
    }
    return { expected: 'no_stream', last: null };
  }

  /** Whether another instance may take the lease now (its clock, with the skew margin). */
  private free(last: LeaseRecord | null, now: number): boolean {
    return last === null || last.type === RELEASED || last.until + this.skewMs < now;
  }

  /** Appends one lease record; resolves to the new revision, or null when the expected revision was wrong. */
  private async write(
    name: string,
    id: string,
    rec: LeaseRecord,
    expected: AppendExpectedRevision,
  ): Promise<bigint | null> {
    try {
      const event = jsonEvent({ id, type: rec.type, data: { ...rec } });
      const r = await this.wire.append(leaseStream(name), [event], { expectedRevision: expected });
      if (!r.success) return null;
      return r.nextExpectedRevision;
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) return null;
      throw translateEsdbError(err, 'write lease');
    }
  }

  async acquire(name: string, signal: AbortSignal): Promise<Lease> {
    if (this.held.has(name)) throw new TypeError(`lease ${name} is already held by this instance`);
    this.seen.add(name);
    for (;;) {
      signal.throwIfAborted();
      if (this.closed) throw new Error('leases are closed');
      let wait = this.pollMs;
      try {
        const { expected, last } = await this.state(name);
        const now = Date.now();
        if (this.free(last, now)) {
          const since = new Date(now).toISOString();
          const rec = { type: TAKEN, holder: this.instanceId, until: now + this.ttlMs, since };
          const revision = await this.write(name, randomUUID(), rec, expected);
          if (revision !== null) return this.granted(name, revision, rec);
          wait = 0; // someone else wrote first: look again at once
        } else if (last) wait = Math.min(this.pollMs, Math.max(0, last.until + this.skewMs - now + 1));
      } catch (err) {
        // The server is unreachable or a call timed out: try again at the next tick; anything else is the caller's.
        if (!(err instanceof LedgerError && err.retriable)) throw err;
      }
      await sleep(wait, undefined, { signal });
    }
  }

  private granted(name: string, revision: bigint, first: LeaseRecord): Lease {
    if (!this.capped.has(name)) {
      // Keeps the stream small: older records become scavengeable. Not awaited, and tried again at the next grant if it
      // failed: the lease holds without it.
      void this.wire
        .setStreamMetadata(leaseStream(name), { maxCount: this.keep })
        .then(() => this.capped.add(name))
        .catch(() => undefined);
    }
    let expected = revision;
    let until = first.until;
    let gone = false;
    let lose!: () => void;
    const lost = new Promise<void>((resolve) => (lose = resolve));
    const stop = (): void => {
      if (gone) return;
      gone = true;
      clearTimeout(lapse);
      clearTimeout(tick);
      this.held.delete(name);
      lose();
    };
    // The lease lapses at `until` on this clock unless a renewal was confirmed before: the work must stop by then.
    let lapse = setTimeout(stop, until - Date.now());
    /** A renewal not yet confirmed: retried with the same id and expected revision, so a retry is idempotent. */
    let pending: { id: string; rec: LeaseRecord } | null = null;
    const renew = async (): Promise<void> => {
      pending ??= {
        id: randomUUID(),
        rec: { type: TAKEN, holder: this.instanceId, until: Date.now() + this.ttlMs, since: first.since },
      };
      try {
        const next = await this.write(name, pending.id, pending.rec, expected);
        if (next === null) return stop(); // another instance wrote: it holds the lease now
        expected = next; // kept even when the lease lapsed meanwhile, so a release still matches
        if (gone) return;
        until = pending.rec.until;
        pending = null;
        clearTimeout(lapse);
        lapse = setTimeout(stop, until - Date.now());
      } catch (err) {
        // Unreachable or unknown outcome: the same write (same id, same expected revision, so idempotent) is tried
        // again at the next tick; the lapse timer ends the lease if none is confirmed before `until`. A failure that
        // will not pass ends the lease now.
        if (!(err instanceof LedgerError && err.retriable)) stop();
      }
    };
    let tick: NodeJS.Timeout;
    let renewing: Promise<void> = Promise.resolve();
    const schedule = (): void => {
      tick = setTimeout(() => {
        renewing = renew().finally(() => gone || schedule());
      }, this.renewMs);
    };
    schedule();
    this.held.set(name, stop);
    return {
      name,
      lost,
      release: async () => {
        if (gone) return;
        stop();
        // A renewal in flight moves the expected revision: the release must follow it, or it would be refused.
        await renewing;
        const rec = { type: RELEASED, holder: this.instanceId, until: 0, since: '' };
        // Only a holder's expected revision matches: a release after losing the lease changes nothing.
        await this.write(name, randomUUID(), rec, expected).catch(() => undefined);
      },
    };
  }

  /** Who holds what: every lease this instance has asked for (each instance runs the same work), as the leader has it. */
  async list(): Promise<LeaseInfo[]> {
    const names = [...this.seen].sort();
    const now = Date.now();
    return Promise.all(
      names.map(async (name) => {
        const { last } = await this.state(name);
        return last && last.type === TAKEN && last.until + this.skewMs >= now
          ? { name, holder: last.holder, since: last.since }
          : { name, holder: null, since: null };
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stop of [...this.held.values()]) stop();
    this.held.clear();
    await this.wire.dispose().catch(() => undefined);
  }
}
