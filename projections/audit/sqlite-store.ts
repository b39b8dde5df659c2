// The audit store on SQLite: audit.db in the data folder, written and read by this process alone. The queries are the
// ones the routes ran before the port existed (same SQL, same index hints), behind an async face.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import type { RecordedEvent, Subscription } from '../../events/store/types.js';
import { AuditDb, type AuditExtension } from './audit-db.js';
import { followInProcess, type LogFile } from './sqlite-follower.js';
import { CSV_COLUMNS, csvLine, DERIVED_CELLS, type AuditRow, type Cell } from './row.js';
import {
  CHECKPOINT_TYPE,
  type AuditState,
  type AuditStore,
  type AuditWitness,
  type KeyLink,
  type PageQuery,
  type RecordPage,
  type RowQuery,
  type ValidKey,
  type WitnessRow,
} from './store.js';
import { auditWhere, selectsEverything, type Where } from './where.js';
import { PageBuffer } from './page-buffer.js';

/** Prepared statements kept per SQL text (a few dozen distinct shapes); cleared if it ever grows past this. */
const STATEMENT_CACHE = 256;

/** csvLine in SQL for a row whose derived cells are plain (audit_events.csv_plain): they are written as stored. */
const CSV_LINE_SQL = `concat_ws(',', position, ${DERIVED_CELLS.map((c) => `ifnull(${c}, '')`).join(', ')}, prev_chain, chain, '"' || replace(event, '"', '""') || '"') || char(13, 10)`;

export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite';
  readonly shared = false;
  private readonly statements = new Map<string, Database.Statement>();

  readonly follow?: (onPosition: (position: number) => void, onError: (err: unknown) => void) => Subscription;

  constructor(
    readonly db: AuditDb,
    extensions: readonly AuditExtension[] = [],
    log?: LogFile,
  ) {
    // With the log's file at hand, the writer process writes the store; this connection only reads.
    if (log !== undefined) {
      const names = extensions.map((x) => x.name);
      this.follow = (onPosition, onError) => followInProcess(db.file, names, log, onPosition, onError);
    }
  }

  /** Opens (creating or converting) audit.db with its derived tables; followed by a writer process when `log` is given. */
  static open(file: string, extensions: readonly AuditExtension[], log?: LogFile): SqliteAuditStore {
    return new SqliteAuditStore(new AuditDb(file, extensions), extensions, log);
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      if (this.statements.size >= STATEMENT_CACHE) this.statements.clear();
      s = this.db.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  state(): Promise<AuditState> {
    return Promise.resolve(this.follow === undefined ? this.db.checkpoint : this.db.storedState());
  }

  applyBatch(events: readonly RecordedEvent[]): Promise<AuditState> {
    this.db.applyBatch(events);
    return Promise.resolve(this.db.checkpoint);
  }

  async rebuild(batches: AsyncIterable<readonly RecordedEvent[]>): Promise<AuditState> {
    this.statements.clear(); // reset drops the tables the statements were prepared on
    this.db.reset();
    for await (const b of batches) this.db.applyBatch(b);
    return this.db.checkpoint;
  }

  rows(q: RowQuery): Promise<AuditRow[]> {
    const base = auditWhere(q.filters, q.scope);
    const parts = [base.sql];
    const params: unknown[] = [...base.params];
    if (q.keyIds !== undefined) {
      parts.push(`key_id IN (${q.keyIds.map(() => '?').join(', ')})`);
      params.push(...q.keyIds);
    }
    for (const [bound, op] of [
      [q.after, '>'],
      [q.before, '<'],
      [q.upTo, '<='],
    ] as const)
      if (bound !== undefined) {
        parts.push(`position ${op} ?`);
        params.push(bound);
      }
    const limit = q.limit === undefined ? '' : ' LIMIT ?';
    if (q.limit !== undefined) params.push(q.limit);
    const sql = `SELECT * FROM audit_events WHERE ${parts.join(' AND ')} ORDER BY position ${q.order === 'desc' ? 'DESC' : 'ASC'}${limit}`;
    return Promise.resolve(this.stmt(sql).all(...params) as AuditRow[]);
  }

  recordPage(q: PageQuery): Promise<RecordPage | null> {
    const everything = selectsEverything(q.filters, q.scope);
    const where: Where = everything ? { sql: '', params: [] } : auditWhere(q.filters, q.scope);
    const range = `FROM audit_events WHERE position > ? AND position <= ?${everything ? '' : ` AND (${where.sql})`} ORDER BY position LIMIT ${q.limit}`;
    const params = [q.after, q.upTo, ...where.params];
    return Promise.resolve(q.format === 'jsonl' ? this.jsonlPage(range, params) : this.csvPage(range, params));
  }

  /**
   * JSONL: the stored records (audit_events.line) concatenated by SQLite into one BLOB, so the bytes go from the file
   * to the socket without being decoded or re-serialized. The subquery's ORDER BY feeds group_concat in position order.
   */
  private jsonlPage(range: string, params: readonly unknown[]): RecordPage | null {
    const [count, first, last, chunk] = this.stmt(
      `SELECT count(*), min(position), max(position), CAST(group_concat(line, '') AS BLOB) FROM (SELECT position, line ${range})`,
    )
      .raw(true)
      .get(...params) as [number, number, number, Buffer];
    return count === 0 ? null : { count, first, last, chunk };
  }

  /**
   * CSV: lines built and concatenated by SQLite like JSONL when every row's derived cells are plain; a page holding a
   * cell that needs the formula guard, quoting or escaping is read again as rows and rendered by csvLine.
   */
  private csvPage(range: string, params: readonly unknown[]): RecordPage | null {
    const [count, rendered, first, last, chunk] = this.stmt(
      `SELECT count(*), count(line), min(position), max(position), CAST(group_concat(line, '') AS BLOB)
       FROM (SELECT position, CASE WHEN csv_plain THEN ${CSV_LINE_SQL} END AS line ${range})`,
    )
      .raw(true)
      .get(...params) as [number, number, number, number, Buffer];
    if (count === 0) return null;
    if (rendered === count) return { count, first, last, chunk };
    const out = new PageBuffer();
    const slow = this.stmt(`SELECT ${CSV_COLUMNS.slice(0, -1).join(', ')}, replace(event, '"', '""') ${range}`);
    for (const r of slow.raw(true).all(...params) as Cell[][]) out.add(csvLine(r));
    return { count, first, last, chunk: out.take() };
  }

  keyLink(keyId: string): Promise<KeyLink> {
    const row = this.stmt('SELECT rotated_from, successor_id FROM audit_keys WHERE key_id = ?').get(keyId) as
      { rotated_from: string | null; successor_id: string | null } | undefined;
    const next =
      row?.successor_id ??
      (
        this.stmt('SELECT key_id FROM audit_keys WHERE rotated_from = ? ORDER BY created_ms, key_id LIMIT 1').get(
          keyId,
        ) as { key_id: string } | undefined
      )?.key_id ??
      null;
    return Promise.resolve({ rotatedFrom: row?.rotated_from ?? null, next });
  }

  keysValidAt(workspaceId: string, at: number): Promise<ValidKey[]> {
    // Owners first (a workspace has few members, and many keys each): who was an active member at `at`.
    const rows = this.stmt(
      `WITH owners AS (
         SELECT m.user_id FROM audit_membership m
         WHERE m.workspace_id = @ws AND m.from_ms <= @at AND m.to_ms > @at
           AND NOT EXISTS (SELECT 1 FROM audit_user_inactive i WHERE i.user_id = m.user_id AND i.from_ms <= @at AND i.to_ms > @at))
       SELECT k.key_id, k.name, k.handle, k.user_id, k.start, k.created_at, k.expires_at FROM audit_keys k INDEXED BY audit_keys_valid
       WHERE k.workspace_id = @ws AND k.created_ms <= @at AND k.end_ms > @at AND k.user_id IN owners
       ORDER BY k.created_ms, k.key_id`,
    )
      .raw(true)
      .all({ ws: workspaceId, at }) as Array<[string, string, string | null, string, string, string, string | null]>;
    return Promise.resolve(
      rows.map(([id, name, handle, userId, start, createdAt, expiresAt]) => ({
        id,
        name,
        handle,
        userId,
        start,
        createdAt,
        expiresAt,
      })),
    );
  }

  nthAfter(after: number, n: number): Promise<AuditState | null> {
    const row = this.stmt(
      'SELECT position, chain FROM audit_events WHERE position > ? AND type <> ? ORDER BY position LIMIT 1 OFFSET ?',
    ).get(after, CHECKPOINT_TYPE, n - 1) as AuditState | undefined;
    return Promise.resolve(row ?? null);
  }

  witnessRows(after: number, upTo: number, limit: number): Promise<WitnessRow[]> {
    return Promise.resolve(witnessPage(this.db.db, after, upTo, limit));
  }

  positionOf(eventId: string): Promise<number | null> {
    return Promise.resolve(positionOf(this.db.db, eventId));
  }

  close(): Promise<void> {
    this.statements.clear();
    this.db.close();
    return Promise.resolve();
  }
}

function witnessPage(db: Database.Database, after: number, upTo: number, limit: number): WitnessRow[] {
  return db
    .prepare(
      'SELECT position, event_id, chain FROM audit_events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?',
    )
    .all(after, upTo, limit) as WitnessRow[];
}

function positionOf(db: Database.Database, eventId: string): number | null {
  const row = db.prepare('SELECT position FROM audit_events WHERE event_id = ?').get(eventId) as
    { position: number } | undefined;
  return row?.position ?? null;
}

/**
 * audit.db opened read-only as a witness for `audit verify --store`, whatever version wrote it (no conversion, so a
 * suspected tampering is never overwritten); null when the file or its table is missing.
 */
export function openSqliteWitness(file: string): AuditWitness | null {
  if (!existsSync(file)) return null;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'").get()) {
    db.close();
    return null;
  }
  return {
    witnessRows: (after, upTo, limit) => Promise.resolve(witnessPage(db, after, upTo, limit)),
    positionOf: (eventId) => Promise.resolve(positionOf(db, eventId)),
    close: () => Promise.resolve(void db.close()),
  };
}
