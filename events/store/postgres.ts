// PostgreSQL store, shared by many instances. Client: `pg` (node-postgres), the most widely deployed Node driver, with a
// pool, SQLSTATE codes to translate, and LISTEN/NOTIFY on a dedicated connection.
//
// Global order without gaps for readers: every group commit takes one transaction-level advisory lock before it picks
// positions, so transactions commit in position order; PostgreSQL makes a transaction visible before it releases its
// locks, so a reader that sees position P also sees every position below P, and `position > cursor` never skips.
import pg from 'pg';
import { pgError } from './pg-errors.js';
import { checkout } from './pg-checkout.js';
import { planBatch, type AppendOutcome, type IdRow } from './append-plan.js';
import { StoreUnavailableError } from '../errors.js';
import { catchUpSubscription } from './catch-up.js';
import { RowEvent } from './row-event.js';
import { assertReadPosition, beyondTheLog } from './positions.js';
import type {
  AppendResult,
  EventHandler,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllPage,
  RecordedEvent,
  SerializedEvent,
  SubscribeOptions,
  Subscription,
} from './types.js';
import { serializeEvent } from './types.js';

export interface PostgresStoreOptions {
  /** Fallback poll interval when no notification arrives (a dropped LISTEN connection, a missed NOTIFY). */
  readonly pollIntervalMs?: number;
  /** Connections in the pool (appends use one at a time; reads share the rest). */
  readonly poolSize?: number;
  /** Delay before reconnecting the LISTEN connection after it dropped (doubles up to 5 s). */
  readonly reconnectMs?: number;
  /**
   * false: the tables exist at this build's version (a server opened them first); only that is checked, without the
   * migration's lock, which appends share (a low-priority process must never hold it).
   */
  readonly migrate?: boolean;
}

interface PendingAppend {
  streamId: string;
  events: readonly SerializedEvent[];
  expected: ExpectedRevision;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

type Row = [string, string, string, number, string, string, string];

const CHANNEL = 'token_ledger_events';
/** The advisory lock every group commit holds: one writer at a time, cluster-wide. */
const APPEND_LOCK = 7_202_612_001;
const SCHEMA_VERSION = 1;

/** The version the ledger tables are at; null when none is recorded. */
async function storedVersion(q: pg.Pool | pg.ClientBase): Promise<number | null> {
  const r = await q.query<{ v: string }>(`SELECT v FROM ledger_meta WHERE k = 'schema_version'`);
  return r.rows[0] ? Number(r.rows[0].v) : null;
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ledger_events (
     position  BIGINT  PRIMARY KEY,
     event_id  TEXT    NOT NULL UNIQUE,
     stream_id TEXT    NOT NULL,
     revision  INTEGER NOT NULL,
     type      TEXT    NOT NULL,
     data      TEXT    NOT NULL,
     metadata  TEXT    NOT NULL,
     UNIQUE (stream_id, revision)
   );
   CREATE TABLE IF NOT EXISTS ledger_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);`,
];

function toRecorded(r: Row): RecordedEvent {
  return new RowEvent(Number(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]);
}

const COLUMNS = 'position, event_id, stream_id, revision, type, data, metadata';

export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly opts: Required<PostgresStoreOptions>;
  private queue: PendingAppend[] = [];
  private flushing: Promise<void> | null = null;
  private readonly waiters = new Set<() => void>();
  private readonly subs = new Set<Subscription>();
  private listener: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly url: string,
    opts: PostgresStoreOptions,
  ) {
    this.opts = {
      pollIntervalMs: opts.pollIntervalMs ?? 1000,
      poolSize: opts.poolSize ?? 8,
      reconnectMs: opts.reconnectMs ?? 100,
      migrate: opts.migrate ?? true,
    };
    this.pool = new pg.Pool({ connectionString: url, max: this.opts.poolSize });
    // An idle pooled connection that dies (e.g. pg_terminate_backend) must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
  }

  /** Connects, creates or migrates the tables, and starts listening for appends made by any instance. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresEventStore> {
    const store = new PostgresEventStore(url, opts);
    try {
      await (opts.migrate === false ? store.checkVersion() : store.migrate());
    } catch (err) {
      await store.pool.end().catch(() => undefined);
      throw pgError(err, 'open');
    }
    await store.listen(0);
    return store;
  }

  private async migrate(): Promise<void> {
    const c = await checkout(this.pool);
    try {
      await c.query('BEGIN');
      // Instances starting together migrate one at a time.
      await c.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
      await c.query(MIGRATIONS[0]!);
      const from = (await storedVersion(c)) ?? 1;
      if (from > SCHEMA_VERSION)
        throw new StoreUnavailableError(
          `the ledger tables are version ${from}; this build knows ${SCHEMA_VERSION}`,
          null,
          false,
        );
      for (let v = from; v < SCHEMA_VERSION; v++) await c.query(MIGRATIONS[v]!);
      await c.query(
        `INSERT INTO ledger_meta (k, v) VALUES ('schema_version', $1) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`,
        [String(SCHEMA_VERSION)],
      );
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  private async checkVersion(): Promise<void> {
    const at = await storedVersion(this.pool);
    if (at !== SCHEMA_VERSION)
      throw new StoreUnavailableError(
        `the ledger tables are version ${at}; this process needs ${SCHEMA_VERSION}`,
        null,
        false,
      );
  }

  /** LISTEN on a dedicated connection; when it drops, subscribers keep polling until it is back. */
  private async listen(attempt: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url });
    const retry = (): void => {
      if (this.listener === client) this.listener = null;
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
      if (this.closed || this.reconnectTimer !== null) return;
      const delay = Math.min(5000, this.opts.reconnectMs * 2 ** Math.min(attempt, 6));
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        void this.listen(attempt + 1);
      }, delay);
      this.reconnectTimer.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', () => this.wake());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch {
      retry();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    // Whatever was appended while the listener was away is picked up now, not at the next poll.
    this.wake();
  }

  append(
    streamId: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision = 'any',
  ): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed', null, false));
    if (events.length === 0) return Promise.reject(new TypeError('append needs at least one event'));
    return new Promise((resolve, reject) => {
      // Serialized before it joins the group: an event that cannot be stored rejects this append (TypeError) alone.
      this.queue.push({ streamId, events: events.map(serializeEvent), expected: expectedRevision, resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  /** Group commit: everything queued while a transaction runs goes into the next one; one at a time per process. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.commit(batch);
    }
    this.flushing = null;
  }

  private async commit(batch: PendingAppend[]): Promise<void> {
    let client: pg.PoolClient | null = null;
    let outcomes: AppendOutcome[];
    try {
      client = await checkout(this.pool);
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
      // Four round trips per group, whatever its size: heads, stored ids, one insert, commit (the lock is held meanwhile).
      const streams = [...new Set(batch.map((p) => p.streamId))];
      const h = await client.query<[string | null, string | null]>({
        text: `SELECT NULL, max(position)::text FROM ledger_events
               UNION ALL SELECT stream_id, max(revision)::text FROM ledger_events WHERE stream_id = ANY($1) GROUP BY stream_id`,
        values: [streams],
        rowMode: 'array',
      });
      const heads = new Map<string, number>();
      let next = 1;
      for (const [stream, max] of h.rows) {
        if (stream === null) next = Number(max ?? 0) + 1;
        else heads.set(stream, Number(max));
      }
      const known = new Map<string, IdRow>();
      for (const r of await this.byIds(
        client,
        batch.flatMap((p) => p.events.map((e) => e.id)),
      ))
        known.set(r[1], { position: Number(r[0]), streamId: r[2], revision: r[3], type: r[4] });
      const plan = planBatch(batch, heads, known, next);
      outcomes = plan.outcomes;
      if (plan.rows.length > 0) {
        const cols = plan.rows[0]!.map((_, i) => plan.rows.map((r) => r[i]));
        await client.query(
          `INSERT INTO ledger_events (${COLUMNS})
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[])`,
          cols,
        );
        await client.query(`SELECT pg_notify('${CHANNEL}', $1)`, [String(plan.rows.at(-1)![0])]);
      }
      await client.query('COMMIT');
    } catch (err) {
      // The outcome of the whole group is unknown: every caller may retry with the same ids (appends are idempotent).
      if (client) await client.query('ROLLBACK').catch(() => undefined);
      client?.release(err instanceof Error);
      const e = pgError(err, 'append');
      for (const p of batch) p.reject(e);
      return;
    }
    client.release();
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.r);
      else p.reject(o.e);
    });
    this.wake();
  }

  private async byIds(c: pg.PoolClient, ids: readonly string[]): Promise<Row[]> {
    const r = await c.query<Row>({
      text: `SELECT ${COLUMNS} FROM ledger_events WHERE event_id = ANY($1)`,
      values: [ids],
      rowMode: 'array',
    });
    return r.rows;
  }

  async readStream(
    streamId: string,
    opts: { fromRevision?: number; maxCount?: number } = {},
  ): Promise<RecordedEvent[]> {
    try {
      const limit = Math.min(opts.maxCount ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      const r = await this.pool.query<Row>({
        text: `SELECT ${COLUMNS} FROM ledger_events WHERE stream_id = $1 AND revision >= $2 ORDER BY revision LIMIT $3`,
        values: [streamId, opts.fromRevision ?? 0, limit],
        rowMode: 'array',
      });
      return r.rows.map(toRecorded);
    } catch (err) {
      throw pgError(err, 'readStream');
    }
  }

  async readAll(opts: { after: number; maxCount: number }): Promise<ReadAllPage> {
    try {
      const r = await this.pool.query<Row>({
        text: `SELECT ${COLUMNS} FROM ledger_events WHERE position > $1 ORDER BY position LIMIT $2`,
        values: [opts.after, opts.maxCount],
        rowMode: 'array',
      });
      const events = r.rows.map(toRecorded);
      const last = events.length > 0 ? events[events.length - 1]!.position : opts.after;
      return { events, lastPosition: last, isEnd: events.length < opts.maxCount };
    } catch (err) {
      throw pgError(err, 'readAll');
    }
  }

  /** Positions are dense (1, 2, 3…), so nothing at or after a whole number other than START means it is beyond the head. */
  async firstEventAtOrAfter(position: number): Promise<RecordedEvent | null> {
    assertReadPosition(position);
    let rows: Row[];
    try {
      const r = await this.pool.query<Row>({
        text: `SELECT ${COLUMNS} FROM ledger_events WHERE position >= $1 ORDER BY position LIMIT 1`,
        values: [position],
        rowMode: 'array',
      });
      rows = r.rows;
    } catch (err) {
      throw pgError(err, 'firstEventAtOrAfter');
    }
    if (rows[0]) return toRecorded(rows[0]);
    if (position === -1) return null;
    throw beyondTheLog(position);
  }

  subscribeAll(handler: EventHandler, opts: SubscribeOptions = {}): Subscription {
    if (this.closed) throw new StoreUnavailableError('store is closed', null, false);
    const sub = catchUpSubscription(
      { readAll: (o) => this.readAll(o), waitForChange: (signal) => this.waitForChange(signal) },
      handler,
      opts.after ?? -1,
      opts.onError ?? ((e) => console.error('subscription failed', e)),
    );
    const tracked: Subscription = {
      caughtUp: sub.caughtUp,
      close: async () => {
        this.subs.delete(tracked);
        await sub.close();
      },
    };
    this.subs.add(tracked);
    return tracked;
  }

  /** Resolves on a notification (any instance's append), a local append, or the fallback poll. */
  private waitForChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(
        done,
        this.listener === null ? Math.min(this.opts.pollIntervalMs, 200) : this.opts.pollIntervalMs,
      );
      timer.unref();
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  async headPosition(): Promise<number> {
    try {
      const r = await this.pool.query<{ p: string | null }>('SELECT max(position) AS p FROM ledger_events');
      return r.rows[0]?.p == null ? -1 : Number(r.rows[0].p);
    } catch (err) {
      throw pgError(err, 'headPosition');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued appends land before closing.
    this.flushing ??= this.queue.length > 0 ? this.drain() : null;
    await this.flushing;
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    await Promise.all([...this.subs].map((s) => s.close()));
    this.wake();
    const l = this.listener;
    this.listener = null;
    if (l) {
      l.removeAllListeners();
      l.on('error', () => undefined);
      await l.end().catch(() => undefined);
    }
    await this.pool.end();
  }
}
