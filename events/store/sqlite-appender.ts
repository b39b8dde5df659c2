// The SQLite group commit: a batch of appends in one transaction and one fsync, each append atomic on its own.
// Run on the writer thread (sqlite-writer-thread.ts), or inline for an in-memory database no other thread can open.
import type Database from 'better-sqlite3';
import { ConcurrencyError, IdempotencyError, LedgerError, StoreUnavailableError } from '../errors.js';
import { expectationHolds, type PlannedAppend } from './append-plan.js';
import type { AppendResult } from './types.js';

/** One append's outcome as it crosses a thread: a refusal by its code and fields, rebuilt by `outcomeError`. */
export type CommitOutcome =
  /** `written`: false when the append was a retry of one already in the log, answered with its original result. */
  | { readonly ok: true; readonly r: AppendResult; readonly written: boolean }
  | {
      readonly ok: false;
      readonly code: 'CONCURRENCY' | 'IDEMPOTENCY_CONFLICT';
      readonly fields: Record<string, unknown>;
    };

/** The refusal an outcome stands for, with its class, code and fields. */
export function outcomeError(o: Extract<CommitOutcome, { ok: false }>): LedgerError {
  const f = o.fields as Record<string, string>;
  return o.code === 'CONCURRENCY'
    ? new ConcurrencyError(String(f.streamId), String(f.expected), String(f.actual))
    : new IdempotencyError(String(f.streamId), String(f.eventId));
}

/** A SQLite failure as the store reports it: busy, locked and I/O errors may pass when tried again. */
export function translateSqlite(err: unknown, what: string): LedgerError {
  if (err instanceof LedgerError) return err;
  const code = (err as { code?: unknown }).code;
  const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_IOERR';
  return new StoreUnavailableError(`sqlite ${what} failed: ${(err as Error).message}`, err, busy);
}

interface IdRow {
  position: number;
  stream_id: string;
  revision: number;
  type: string;
}

export class SqliteAppender {
  private readonly applyInSavepoint: (p: PlannedAppend, nextPos: number) => AppendResult;
  private readonly stmts: {
    streamHead: Database.Statement<[string], { r: number | null }>;
    byEventId: Database.Statement<[string], IdRow>;
    insert: Database.Statement<[number, string, string, number, string, string, string]>;
    maxPos: Database.Statement<[], { p: number | null }>;
  };

  constructor(private readonly db: Database.Database) {
    // Nested inside the group's transaction, better-sqlite3 runs this as a savepoint.
    this.applyInSavepoint = db.transaction((p: PlannedAppend, nextPos: number) => this.applyOne(p, nextPos));
    this.stmts = {
      streamHead: db.prepare('SELECT MAX(revision) AS r FROM events WHERE stream_id = ?'),
      byEventId: db.prepare('SELECT position, stream_id, revision, type FROM events WHERE event_id = ?'),
      insert: db.prepare(
        'INSERT INTO events (position, event_id, stream_id, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      maxPos: db.prepare('SELECT MAX(position) AS p FROM events'),
    };
  }

  /**
   * Every append of the batch shares one transaction and one fsync. Each is atomic on its own (a multi-event one runs
   * in a savepoint), so one that is refused is rolled back alone and the others still commit. Throws, with nothing
   * committed, when the store itself fails.
   */
  commit(batch: readonly PlannedAppend[]): CommitOutcome[] {
    const outcomes: CommitOutcome[] = [];
    const run = this.db.transaction(() => {
      let nextPos = (this.stmts.maxPos.get()?.p ?? 0) + 1;
      for (const p of batch) {
        try {
          // One insert is atomic by itself; only a multi-event append needs a savepoint to fail as a whole.
          const r = p.events.length === 1 ? this.applyOne(p, nextPos) : this.applyInSavepoint(p, nextPos);
          // A retry answers with its original, earlier position; only a new write reaches nextPos.
          const written = r.position >= nextPos;
          if (written) nextPos = r.position + 1;
          outcomes.push({ ok: true, r, written });
        } catch (e) {
          if (e instanceof ConcurrencyError) outcomes.push({ ok: false, code: 'CONCURRENCY', fields: e.fields });
          else if (e instanceof IdempotencyError)
            outcomes.push({ ok: false, code: 'IDEMPOTENCY_CONFLICT', fields: e.fields });
          else throw e;
        }
      }
    });
    run.immediate();
    return outcomes;
  }

  private applyOne(p: PlannedAppend, nextPos: number): AppendResult {
    const first = p.events[0]!;
    const head = this.stmts.streamHead.get(p.streamId)?.r ?? -1;
    if (!expectationHolds(p.expected, head)) {
      // A retry of an append that already landed moved the head itself: that is not a conflict.
      const existing = this.stmts.byEventId.get(first.id);
      if (existing) return this.idempotentResult(p, existing);
      throw new ConcurrencyError(p.streamId, String(p.expected), head === -1 ? 'no_stream' : String(head));
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
  private idempotentResult(p: PlannedAppend, first: IdRow): AppendResult {
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
}
