// Leases: work that must run on one instance at a time (the Kafka publisher, the checkpointer, the audit writer, the
// expiry writer) holds a named lease. Each backend grants them its own way; a holder that dies loses its lease.

export interface Lease {
  readonly name: string;
  /** Resolves when the lease is gone (its connection dropped, or it was released): the work must stop. */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

export interface LeaseInfo {
  readonly name: string;
  /** The instance holding it, or null when nobody does. */
  readonly holder: string | null;
  readonly since: string | null;
}

export interface Leases {
  /** This instance's id, as other instances see it in lease listings. */
  readonly instanceId: string;
  /** Waits until this instance holds the lease (another holder keeps it waiting); rejects when `signal` aborts. */
  acquire(name: string, signal: AbortSignal): Promise<Lease>;
  /** Who holds what, for /readyz and /metrics. */
  list(): Promise<LeaseInfo[]>;
  close(): Promise<void>;
}

/** One process owns its store (SQLite takes an exclusive lock on its folder): every lease is granted at once. */
export class LocalLeases implements Leases {
  private readonly held = new Map<string, { since: string; release: () => void }>();

  constructor(readonly instanceId: string) {}

  acquire(name: string, signal: AbortSignal): Promise<Lease> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.held.has(name)) throw new TypeError(`lease ${name} is already held by this process`);
    let release!: () => void;
    const lost = new Promise<void>((resolve) => (release = resolve));
    this.held.set(name, { since: new Date().toISOString(), release });
    return Promise.resolve({
      name,
      lost,
      release: () => {
        this.held.delete(name);
        release();
        return Promise.resolve();
      },
    });
  }

  list(): Promise<LeaseInfo[]> {
    return Promise.resolve([...this.held].map(([name, h]) => ({ name, holder: this.instanceId, since: h.since })));
  }

  close(): Promise<void> {
    for (const h of this.held.values()) h.release();
    this.held.clear();
    return Promise.resolve();
  }
}
