// Embedded default store: one SQLite file, WAL + synchronous=FULL, concurrent appends grouped into one transaction
// that a writer thread commits (sqlite-writer.ts), while reads run on this thread's own connection.
import Database from 'better-sqlite3';
import { secureSqliteFile } from './data-dir.js';
import { StoreUnavailableError } from '../errors.js';
import type { PlannedAppend } from './append-plan.js';
import { outcomeError, translateSqlite as translate } from './sqlite-appender.js';
import { RecentCommits } from './recent-commits.js';
import { inlineCommitter, noCommitter, threadCommitter, type GroupCommitter } from './sqlite-writer.js';
import { catchUpSubscription } from './catch-up.js';
import { RowEvent } from './row-event.js';
import { arrayToRecorded, columnsToRecorded, READ_ALL_SQL, type RowArray, type RowColumns } from './sqlite-rows.js';
import { ReadAhead } from './sqlite-read-ahead.js';
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
  Subscription,
} from './types.js';
import { serializeEvent } from './types.js';

interface PendingAppend extends PlannedAppend {
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
  /** Reads only (a process following the log of a server): appends are a TypeError and no writer thread starts. */
  readonly readOnly?: boolean;
  /**
   * A readAll this many events or more behind the head reads the following pages on a worker thread (see ReadAhead);
   * 0 never does. Default 50,000: below that, starting the thread costs more than it saves.
   */
  readonly readAheadFrom?: number;
}

const READ_AHEAD_FROM = 50_000;
/** A read-ahead no reader has taken a page from for this long is replaced by one for the reader asking now. */
const READ_AHEAD_IDLE_MS = 1000;

/**
 * Appends per group at most: the next group gathers (its commands decided on this thread) while one commits on the
 * writer's. At 32 the fsync's share per append is already below an insert's own cost (bench: 64 in flight).
 */
const MAX_GROUP = 32;
/**
 * A backlog (a usage flush queues one append per key used) is taken half at a time, up to this many: a large group
 * shares one fsync among more appends, and the other half still gathers while it commits.
 */
const MAX_BULK_GROUP = 512;

/** How many of `queued` appends the next group takes. */
export function groupSize(queued: number): number {
  return Math.min(queued, Math.max(MAX_GROUP, Math.min(MAX_BULK_GROUP, queued >> 1)));
}

/** An in-memory database lives in one connection: its commits cannot move to another thread. */
function inMemory(file: string): boolean {
  return file === ':memory:' || file === '' || file.startsWith('file::memory:');
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
  return new RowEvent(r.position, r.event_id, r.stream_id, r.revision, r.type, r.data, r.metadata);
}

export { arrayToRecorded, READ_ALL_SQL, type RowArray } from './sqlite-rows.js';

export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite';
  readonly file: string;
  private readonly db: Database.Database;
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  private readonly committer: GroupCommitter;
  /** A group is with the committer: appends arriving meanwhile wait and form the next one. */
  private committing = false;
  private drained: Array<() => void> = [];
  private readonly recent = new RecentCommits();
  private waiters = new Set<() => void>();
  private closed = false;
  private readonly subs = new Set<Subscription>();
  private readonly watchers = new Set<() => void>();
  private readonly pollIntervalMs: number;
  private readonly readOnly: boolean;
  private readonly readAheadFrom: number;
  private ahead: ReadAhead | null = null;
  private readonly aheadTotals = { started: 0, served: 0, readHere: 0, lastFailure: null as string | null };
  private readonly stmts: {
    maxPos: Database.Statement<[], { p: number | null }>;
    readStream: Database.Statement<[string, number, number], Row>;
    readAll: Database.Statement<[number, number], RowArray>;
    firstFrom: Database.Statement<[number], RowArray>;
  };

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    this.file = file;
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    this.readOnly = opts.readOnly === true;
    this.readAheadFrom = opts.readAheadFrom ?? READ_AHEAD_FROM;
    if (!Number.isSafeInteger(this.readAheadFrom) || this.readAheadFrom < 0)
      throw new TypeError('readAheadFrom must be a whole number of events, 0 or more');
    if (!this.readOnly) secureSqliteFile(file); // a reader's server made and secured it
    try {
      // A reader follows a server's log: it never creates one.
      this.db = new Database(file, { fileMustExist: this.readOnly });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw translate(err, 'open');
    }
    this.stmts = {
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
    try {
      this.committer = this.readOnly
        ? noCommitter()
        : inMemory(file)
          ? inlineCommitter(this.db)
          : threadCommitter(file);
    } catch (err) {
      this.db.close();
      throw translate(err, 'open');
    }
  }

  append(
    streamId: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision = 'any',
  ): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed', null, false));
    if (this.readOnly) return Promise.reject(new TypeError('this SQLite store was opened read-only'));
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
   * Group commit: every append queued since the last group was handed over shares one transaction and one fsync (see
   * SqliteAppender.commit). Each is acknowledged once that transaction is durable, and only then are readers woken.
   */
  private flush(): void {
    this.flushScheduled = false;
    if (this.committing) return; // sent when the group under way is answered
    const batch = this.queue.splice(0, groupSize(this.queue.length));
    if (batch.length === 0) return this.settled();
    this.committing = true;
    this.committer
      // Only the appends' data crosses to the writer, not their callbacks.
      .commit(batch.map(({ streamId, events, expected }) => ({ streamId, events, expected })))
      .then(
        (outcomes) => {
          batch.forEach((p, i) => {
            const o = outcomes[i]!;
            if (!o.ok) return p.reject(outcomeError(o));
            if (o.written) this.recent.add(p.streamId, p.events, o.r);
            p.resolve(o.r);
          });
          this.wake();
        },
        (err: unknown) => {
          const e = translate(err, 'append');
          for (const p of batch) p.reject(e);
        },
      )
      .finally(() => {
        this.committing = false;
        this.flush();
      })
      .catch((err: unknown) => console.error('sqlite group commit bookkeeping failed', err));
  }

  /** Nothing queued and nothing under way: close() may go on. */
  private settled(): void {
    if (this.committing || this.queue.length > 0) return;
    const ds = this.drained;
    this.drained = [];
    for (const d of ds) d();
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
      // Not the end: whether another process wrote after them only the file can tell, on the next read.
      const held = this.recent.after(opts.after, opts.maxCount);
      if (held !== null && held.length > 0) {
        const events = held.map(arrayToRecorded);
        return Promise.resolve({ events, lastPosition: events[events.length - 1]!.position, isEnd: false });
      }
      const ahead = this.ahead?.take(opts.after, opts.maxCount);
      if (ahead) return ahead.then((page) => (page === null ? this.readAllHere(opts) : this.aheadPage(page)));
      return Promise.resolve(this.readAllHere(opts));
    } catch (err) {
      return Promise.reject(translate(err, 'readAll'));
    }
  }

  /**
   * Read-aheads started, pages their threads read, pages read here instead (while waiting, or for want of a thread
   * ahead), and why the last one ended early (tests and benchmarks read it).
   */
  get readAheadStats(): { started: number; served: number; readHere: number; lastFailure: string | null } {
    const t = this.aheadTotals;
    const a = this.ahead;
    return {
      started: t.started,
      served: t.served + (a?.served ?? 0),
      readHere: t.readHere + (a?.readHere ?? 0),
      lastFailure: a?.failure ?? t.lastFailure,
    };
  }

  /** Resolves once the read-ahead under way holds `pages` pages its reader has not taken (or it is over). */
  readAheadHolding(pages: number): Promise<void> {
    return this.ahead?.holding(pages) ?? Promise.resolve();
  }

  /** A page the read-ahead read (never empty: see notPage): not the end, which the next read on this connection tells. */
  private aheadPage(page: RowColumns): ReadAllPage {
    try {
      const events = columnsToRecorded(page);
      return { events, lastPosition: events[events.length - 1]!.position, isEnd: false };
    } catch (err) {
      throw translate(err, 'readAll');
    }
  }

  /** A page read on this thread's connection; a full one far behind the head starts a read-ahead of the next ones. */
  private readAllHere(opts: { after: number; maxCount: number }): ReadAllPage {
    try {
      const rows = this.stmts.readAll.all(opts.after, opts.maxCount);
      const events = rows.map(arrayToRecorded);
      const last = events.length > 0 ? events[events.length - 1]!.position : opts.after;
      if (events.length === opts.maxCount) this.maybeReadAhead(last, opts.maxCount);
      return { events, lastPosition: last, isEnd: events.length < opts.maxCount };
    } catch (err) {
      throw translate(err, 'readAll');
    }
  }

  private maybeReadAhead(after: number, pageSize: number): void {
    if (this.readAheadFrom === 0 || this.closed || inMemory(this.file)) return;
    const current = this.ahead;
    if (current !== null && current.active && current.idleMs(performance.now()) < READ_AHEAD_IDLE_MS) return;
    const head = this.stmts.maxPos.get()?.p ?? -1;
    if (head - after < this.readAheadFrom) return;
    this.dropReadAhead().catch((err: unknown) => (this.aheadTotals.lastFailure = `not stopped: ${String(err)}`));
    this.ahead = new ReadAhead(this.file, after, head, pageSize, (a, n) => this.stmts.readAll.all(a, n));
    this.aheadTotals.started++;
  }

  private dropReadAhead(): Promise<void> {
    const a = this.ahead;
    if (a === null) return Promise.resolve();
    this.ahead = null;
    const t = this.aheadTotals;
    t.served += a.served;
    t.readHere += a.readHere;
    if (a.failure !== null) t.lastFailure = a.failure;
    return a.close();
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
    this.noticeAppend();
    for (const w of this.watchers) w();
  }

  /** Another process appended (its server said so): subscribers read the file now, not at their next poll. */
  noticeAppend(): void {
    for (const w of [...this.waiters]) w();
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
    this.closed = true;
    // Let queued appends land before closing.
    await new Promise<void>((resolve) => {
      this.drained.push(resolve);
      this.flush();
    });
    await this.committer.close();
    await Promise.all([...this.subs].map((s) => s.close()));
    await this.dropReadAhead();
    this.wake();
    this.db.close();
  }
}
