// Leases on PostgreSQL: a session-level advisory lock per lease, held on one dedicated connection. When the holder dies
// (even by kill -9) its connection ends and PostgreSQL releases the lock; a waiting instance takes it at its next try.
import pg from 'pg';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lease, LeaseInfo, Leases } from './leases.js';

export interface PostgresLeaseOptions {
  /** How often a waiting instance tries to take a lease (failover happens within this, plus connection loss detection). */
  readonly retryMs?: number;
}

/** A stable 63-bit lock key per lease name (namespaced, so it never collides with the append lock). */
function lockKey(name: string): string {
  const h = createHash('sha256').update(`token-ledger lease ${name}`).digest();
  return (h.readBigInt64BE(0) & 0x3fff_ffff_ffff_ffffn).toString();
}

const TABLE = `CREATE TABLE IF NOT EXISTS ledger_leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, since TIMESTAMPTZ NOT NULL)`;

export class PostgresLeases implements Leases {
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private readonly held = new Map<string, () => void>();
  private closed = false;
  private readonly retryMs: number;
  /** Queries on the one lease connection run one at a time (pg refuses overlapping queries on a client). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly url: string,
    readonly instanceId: string,
    opts: PostgresLeaseOptions = {},
  ) {
    this.retryMs = opts.retryMs ?? 1000;
  }

  /** The dedicated connection that holds this instance's locks; losing it loses every lease at once. */
  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const c = new pg.Client({ connectionString: this.url });
      const drop = (): void => {
        if (this.client === c) this.client = null;
        for (const lose of this.held.values()) lose();
        this.held.clear();
      };
      c.on('error', drop);
      c.on('end', drop);
      try {
        await c.connect();
        await c.query(TABLE);
      } catch (err) {
        c.removeAllListeners();
        c.on('error', () => undefined);
        await c.end().catch(() => undefined);
        throw err;
      }
      this.client = c;
      return c;
    })().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private query<R extends pg.QueryResultRow>(
    c: pg.Client,
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    const run = this.queue.then(() => c.query<R>(text, values));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async acquire(name: string, signal: AbortSignal): Promise<Lease> {
    if (this.held.has(name)) throw new TypeError(`lease ${name} is already held by this instance`);
    for (;;) {
      signal.throwIfAborted();
      if (this.closed) throw new Error('leases are closed');
      try {
        const c = await this.connection();
        const r = await this.query<{ ok: boolean }>(c, 'SELECT pg_try_advisory_lock($1::bigint) AS ok', [
          lockKey(name),
        ]);
        if (r.rows[0]?.ok === true) return await this.granted(c, name);
      } catch {
        // The database is unreachable or the connection dropped: try again at the next tick.
      }
      await sleep(this.retryMs, undefined, { signal });
    }
  }

  private async granted(c: pg.Client, name: string): Promise<Lease> {
    let lose!: () => void;
    const lost = new Promise<void>((resolve) => (lose = resolve));
    this.held.set(name, lose);
    await this.query(
      c,
      `INSERT INTO ledger_leases (name, holder, since) VALUES ($1, $2, now()) ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since`,
      [name, this.instanceId],
    ).catch(() => undefined); // informational only: the lock is what grants the lease
    return {
      name,
      lost,
      release: async () => {
        if (!this.held.delete(name)) return;
        lose();
        await this.query(c, 'SELECT pg_advisory_unlock($1::bigint)', [lockKey(name)]).catch(() => undefined);
      },
    };
  }

  /** Who holds what: the informational table, checked against the advisory locks granted right now. */
  async list(): Promise<LeaseInfo[]> {
    const c = await this.connection();
    const rows = await this.query<{ name: string; holder: string; since: Date }>(
      c,
      'SELECT name, holder, since FROM ledger_leases ORDER BY name',
    );
    const locks = await this.query<{ hi: number; lo: number }>(
      c,
      `SELECT classid::bigint AS hi, objid::bigint AS lo FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    const held = new Set(locks.rows.map((l) => ((BigInt(l.hi) << 32n) | BigInt(l.lo)).toString()));
    return rows.rows.map((x) =>
      held.has(lockKey(x.name))
        ? { name: x.name, holder: x.holder, since: x.since.toISOString() }
        : { name: x.name, holder: null, since: null },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const lose of this.held.values()) lose();
    this.held.clear();
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners();
      c.on('error', () => undefined);
      await c.end().catch(() => undefined);
    }
  }
}
