// Embedded default store: one SQLite file, WAL + synchronous=FULL, concurrent appends grouped into one transaction.
import { expectationHolds } from './append-plan.js';
import Database from 'better-sqlite3';
import { secureSqliteFile } from './data-dir.js';
import { ConcurrencyError, IdempotencyError, LedgerError, StoreUnavailableError } from '../errors.js';
import { catchUpSubscription } from './catch-up.js';
import { assertReadPosition, beyondTheLog } from './positions.js';
import type {
  AppendResult,
  EventHandler,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllPage,
  RecordedEvent,
  SubscribeOptions,
  SerializedEvent,
  Subscription,
} from './types.js';
import { serializeEvent } from './types.js';

interface PendingAppend {
  streamId: string;
  events: readonly SerializedEvent[];
  expected: ExpectedRevision;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

interface Row {
  position: number;
  event_id: string;
  stream_id: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

export interface SqliteStoreOptions {
  /** How often to look for appends made by other processes sharing the file. */
  readonly pollIntervalMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position   INTEGER PRIMARY KEY,
  event_id   TEXT    NOT NULL UNIQUE,
  stream_id  TEXT    NOT NULL,
  revision   INTEGER NOT NULL,
  type       TEXT    NOT NULL,
  data       TEXT    NOT NULL,
  metadata   TEXT    NOT NULL,
  UNIQUE (stream_id, revision)
);
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`;

function toRecorded(r: Row): RecordedEvent {
  return {
    id: r.event_id,
    streamId: r.stream_id,
    revision: r.revision,
    position: r.position,
    type: r.type,
    data: JSON.parse(r.data) as unknown,
    metadata: JSON.parse(r.metadata) as unknown,
  };
}

/** readAll's query: rows after a position, in log order, as arrays. */
export const READ_ALL_SQL =
  'SELECT position, event_id, stream_id, revision, type, data, metadata FROM events WHERE position > ? ORDER BY position LIMIT ?';

/** SELECT position, event_id, stream_id, revision, type, data, metadata, as an array. */
export type RowArray = [number, string, string, number, string, string, string];

/** A row of readAll's shape decoded into a recorded event (also used by readers of the file in other threads). */
export function arrayToRecorded(r: RowArray): RecordedEvent {
  return {
    id: r[1],
    streamId: r[2],
    revision: r[3],
    position: r[0],
    type: r[4],
    data: JSON.parse(r[5]) as unknown,
    metadata: JSON.parse(r[6]) as unknown,
  };
}

function translate(err: unknown, what: string): LedgerError {
  if (err instanceof LedgerError) return err;
  const code = (err as { code?: unknown }).code;
  const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_IOERR';
  return new StoreUnavailableError(`sqlite ${what} failed: ${(err as Error).message}`, err, busy);
}

export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite';
  readonly file: string;
  private readonly db: Database.Database;
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  private waiters = new Set<() => void>();
  private closed = false;
  private readonly subs = new Set<Subscription>();
  private readonly watchers = new Set<() => void>();
  private readonly pollIntervalMs: number;
  private readonly applyInSavepoint: (p: PendingAppend, nextPos: number) => AppendResult;
  private readonly stmts: {
    streamHead: Database.Statement<[string], { r: number | null }>;
    byEventId: Database.Statement<[string], Row>;
    insert: Database.Statement<[number, string, string, number, string, string, string]>;
    maxPos: Database.Statement<[], { p: number | null }>;
    readStream: Database.Statement<[string, number, number], Row>;
    readAll: Database.Statement<[number, number], RowArray>;
    firstFrom: Database.Statement<[number], RowArray>;
  };

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    this.file = file;
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    secureSqliteFile(file);
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw translate(err, 'open');
    }
    // Nested inside the group's transaction, better-sqlite3 runs this as a savepoint.
    this.applyInSavepoint = this.db.transaction((p: PendingAppend, nextPos: number) => this.applyOne(p, nextPos));
    this.stmts = {
      streamHead: this.db.prepare('SELECT MAX(revision) AS r FROM events WHERE stream_id = ?'),
      byEventId: this.db.prepare('SELECT * FROM events WHERE event_id = ?'),
      insert: this.db.prepare(
        'INSERT INTO events (position, event_id, stream_id, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      maxPos: this.db.prepare('SELECT MAX(position) AS p FROM events'),
      readStream: this.db.prepare(
        'SELECT * FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision LIMIT ?',
      ),
      // Rows as arrays: the replay path skips building one row object per event.
      readAll: this.db.prepare<[number, number], RowArray>(READ_ALL_SQL).raw(true),
      firstFrom: this.db
        .prepare<[number], RowArray>(
          'SELECT position, event_id, stream_id, revision, type, data, metadata FROM events WHERE position >= ? ORDER BY position LIMIT 1',
        )
        .raw(true),
    };
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
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Group commit: every append queued since the last flush shares one transaction and one fsync. Each append is
   * atomic on its own (a multi-event one runs in a savepoint), so one that is refused is rolled back alone and the
   * others still commit.
   */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; r: AppendResult } | { ok: false; e: unknown }> = [];
    const run = this.db.transaction(() => {
      let nextPos = (this.stmts.maxPos.get()?.p ?? 0) + 1;
      for (const p of batch) {
        try {
          // One insert is atomic by itself; only a multi-event append needs a savepoint to fail as a whole.
          const r = p.events.length === 1 ? this.applyOne(p, nextPos) : this.applyInSavepoint(p, nextPos);
          if (r.position >= nextPos) nextPos = r.position + 1;
          outcomes.push({ ok: true, r });
        } catch (e) {
          if (!(e instanceof LedgerError) || e instanceof StoreUnavailableError) throw e;
          outcomes.push({ ok: false, e });
        }
      }
    });
    try {
      run.immediate();
    } catch (err) {
      const e = translate(err, 'append');
      for (const p of batch) p.reject(e);
      return;
    }
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.r);
      else p.reject(o.e);
    });
    this.wake();
  }

  private applyOne(p: PendingAppend, nextPos: number): AppendResult {
    const first = p.events[0]!;
    const head = this.stmts.streamHead.get(p.streamId)?.r ?? -1;
    const exp = p.expected;
    if (!expectationHolds(exp, head)) {
      // A retry of an append that already landed moved the head itself: that is not a conflict.
      const existing = this.stmts.byEventId.get(first.id);
      if (existing) return this.idempotentResult(p, existing);
      throw new ConcurrencyError(p.streamId, String(exp), head === -1 ? 'no_stream' : String(head));
    }
    let rev = head;
    let pos = nextPos - 1;
    for (const [i, ev] of p.events.entries()) {
      rev += 1;
      pos += 1;
      try {
        this.stmts.insert.run(pos, ev.id, p.streamId, rev, ev.type, ev.data, ev.metadata);
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
        // Only the first event's id can make the whole append a retry; a later clash is a partial overlap.
        const existing = i === 0 ? this.stmts.byEventId.get(first.id) : undefined;
        if (existing) return this.idempotentResult(p, existing);
        throw new IdempotencyError(p.streamId, ev.id);
      }
    }
    return { nextRevision: rev, position: pos };
  }

  /** A retry of an append that already landed returns the original result instead of writing twice. */
  private idempotentResult(p: PendingAppend, first: Row): AppendResult {
    let last = first;
    for (let i = 0; i < p.events.length; i++) {
      const ev = p.events[i]!;
      const row = i === 0 ? first : this.stmts.byEventId.get(ev.id);
      if (!row || row.stream_id !== p.streamId || row.revision !== first.revision + i || row.type !== ev.type) {
        throw new IdempotencyError(p.streamId, ev.id);
      }
      last = row;
    }
    return { nextRevision: last.revision, position: last.position };
  }

  readStream(streamId: string, opts: { fromRevision?: number; maxCount?: number } = {}): Promise<RecordedEvent[]> {
    try {
      const rows = this.stmts.readStream.all(
        streamId,
        opts.fromRevision ?? 0,
        opts.maxCount ?? Number.MAX_SAFE_INTEGER,
      );
      return Promise.resolve(rows.map(toRecorded));
    } catch (err) {
      return Promise.reject(translate(err, 'readStream'));
    }
  }

  readAll(opts: { after: number; maxCount: number }): Promise<ReadAllPage> {
    try {
      const rows = this.stmts.readAll.all(opts.after, opts.maxCount);
      const events = rows.map(arrayToRecorded);
      const last = events.length > 0 ? events[events.length - 1]!.position : opts.after;
      return Promise.resolve({ events, lastPosition: last, isEnd: events.length < opts.maxCount });
    } catch (err) {
      return Promise.reject(translate(err, 'readAll'));
    }
  }

  /** Positions are dense (1, 2, 3…), so nothing at or after a whole number other than START means it is beyond the head. */
  firstEventAtOrAfter(position: number): Promise<RecordedEvent | null> {
    try {
      assertReadPosition(position);
      const row = this.stmts.firstFrom.get(position);
      if (row) return Promise.resolve(arrayToRecorded(row));
      if (position === -1) return Promise.resolve(null);
      throw beyondTheLog(position);
    } catch (err) {
      return Promise.reject(translate(err, 'firstEventAtOrAfter'));
    }
  }

  /** Raw rows as readAll reads them, without decoding: the baseline the rebuild benchmark compares against. */
  readAllRaw(after: number, maxCount: number): RowArray[] {
    return this.stmts.readAll.all(after, maxCount);
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

  private waitForChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      // Polling only matters when another process appends to the same file.
      const timer = setTimeout(done, this.pollIntervalMs);
      timer.unref();
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    const ws = [...this.waiters];
    for (const w of ws) w();
    for (const w of this.watchers) w();
  }

  /** Calls `listener` after every commit of this instance (readers of the file in other threads wake on it). */
  watch(listener: () => void): () => void {
    this.watchers.add(listener);
    return () => void this.watchers.delete(listener);
  }

  headPosition(): Promise<number> {
    try {
      return Promise.resolve(this.stmts.maxPos.get()?.p ?? -1);
    } catch (err) {
      return Promise.reject(translate(err, 'headPosition'));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued appends land before closing.
    if (this.queue.length > 0) this.flush();
    this.closed = true;
    await Promise.all([...this.subs].map((s) => s.close()));
    this.wake();
    this.db.close();
  }
}
