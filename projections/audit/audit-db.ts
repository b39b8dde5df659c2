// The audit read model's SQLite file: every ledger event flattened into queryable columns, with its chain value.
// It never holds a secret: sealed tokens and password hashes are replaced by their digest (events/chain.ts).
import { AUDIT_INDEXES, indexNames } from './indexes.js';
import Database from 'better-sqlite3';
import { GENESIS_CHAIN } from '../../events/chain.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { secureSqliteFile } from '../../events/store/data-dir.js';
import { flatten } from './flatten.js';
import { KeyWorkspaces } from './key-workspaces.js';
import { CSV_COLUMNS, type AuditRow } from './row.js';
import type { AuditState } from './store.js';

export type { AuditRow, AuditState };

/**
 * 2: about_ws (the workspace an event is about, key events included); the JSONL export record stored as `line`, with
 * prev_chain, chain and event derived from it (virtual columns), so an export streams stored bytes. A version-1 file is
 * converted in place at open (same rows, same chain values: it stays a witness for `audit verify --store`).
 */
export const AUDIT_SCHEMA_VERSION = 2;

const PAGE_BYTES = 16_384;
/** The writer connection's page cache (KiB), about 4,000 pages: the tails of the busiest keys' index ranges. */
const WRITER_CACHE_KIB = 65_536;
/** WAL pages between automatic checkpoints (SQLite's default is 1,000): at most 128 MiB of WAL. */
const WAL_CHECKPOINT_PAGES = 8_192;

/**
 * Where the parts sit in `line` = {"position":P,"prevChain":"<64>","chain":"<64>","event":E}\n (1-based, P has
 * length(position) digits): prevChain at 27+d, chain at 102+d, the event from 176+d up to the closing "}\n".
 */
const LINE_COLUMNS = `
  line TEXT NOT NULL,
  prev_chain TEXT GENERATED ALWAYS AS (substr(line, 27 + length(position), 64)) VIRTUAL,
  chain TEXT GENERATED ALWAYS AS (substr(line, 102 + length(position), 64)) VIRTUAL,
  event TEXT GENERATED ALWAYS AS (substr(line, 176 + length(position), length(line) - 177 - length(position))) VIRTUAL`;

const EVENT_COLUMNS = `
  position INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  stream_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  type TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  occurred_ms INTEGER NOT NULL,
  ms_hw INTEGER NOT NULL,
  key_id TEXT,
  user_id TEXT,
  workspace_id TEXT,
  about_ws TEXT,
  actor_type TEXT,
  actor_id TEXT,
  ip TEXT,
  user_agent TEXT,
  request_id TEXT,
  scheme TEXT,
  token_digest TEXT,
  csv_plain INTEGER NOT NULL,`;

/** The stored (non-virtual) columns: the CSV's derived cells plus what only the database keeps. */
export const STORED: ReadonlyArray<keyof AuditRow> = [
  ...CSV_COLUMNS.slice(0, 13),
  'event_id',
  'stream_id',
  'revision',
  'occurred_ms',
  'ms_hw',
  'about_ws',
  'csv_plain',
  'line',
];

/** A row's STORED values in that order (a unit test holds the two together). */
export function storedValues(r: AuditRow): Array<string | number | null> {
  return [
    r.position,
    r.occurred_at,
    r.type,
    r.key_id,
    r.user_id,
    r.workspace_id,
    r.actor_type,
    r.actor_id,
    r.ip,
    r.user_agent,
    r.request_id,
    r.scheme,
    r.token_digest,
    r.event_id,
    r.stream_id,
    r.revision,
    r.occurred_ms,
    r.ms_hw,
    r.about_ws,
    r.csv_plain,
    r.line,
  ];
}

/** One row, its values in STORED order (as storedValues gives them); a replayed position is skipped. */
export const INSERT_ROW_SQL = `INSERT INTO audit_events (${STORED.join(', ')}) VALUES (${STORED.map(() => '?').join(', ')}) ON CONFLICT(position) DO NOTHING`;

const DDL = `
CREATE TABLE IF NOT EXISTS audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_events (${EVENT_COLUMNS}${LINE_COLUMNS}
);
${AUDIT_INDEXES}`;

/** Version 1 kept prev_chain, chain and event as stored columns and had no about_ws: rebuild the table from its rows. */
function migrateV1(db: Database.Database): void {
  db.transaction(() => {
    for (const ix of [
      'audit_by_key',
      'audit_by_user',
      'audit_by_ws',
      'audit_by_actor',
      'audit_by_type',
      'audit_by_digest',
      'audit_by_time',
    ])
      db.exec(`DROP INDEX IF EXISTS ${ix}`);
    db.exec('ALTER TABLE audit_events RENAME TO audit_events_v1');
    db.exec(DDL);
    const copied = STORED.filter((c) => c !== 'about_ws' && c !== 'line' && c !== 'ms_hw' && c !== 'csv_plain').join(
      ', ',
    );
    // csv_plain 0: CSV exports render the old rows in JS, which is always right.
    db.exec(`INSERT INTO audit_events (${copied}, ms_hw, about_ws, csv_plain, line)
      SELECT ${copied}, max(occurred_ms) OVER (ORDER BY position ROWS UNBOUNDED PRECEDING), workspace_id, 0,
        '{"position":' || position || ',"prevChain":"' || prev_chain || '","chain":"' || chain || '","event":' || event || '}' || char(10)
      FROM audit_events_v1 ORDER BY position`);
    db.prepare(
      "INSERT INTO audit_meta (name, value) VALUES ('ms_skew', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    ).run(String(db.prepare('SELECT COALESCE(max(ms_hw - occurred_ms), 0) FROM audit_events').pluck().get()));
    db.exec(`UPDATE audit_events SET about_ws = (SELECT c.about_ws FROM audit_events c INDEXED BY audit_by_key WHERE c.key_id = audit_events.key_id ORDER BY c.position LIMIT 1)
      WHERE about_ws IS NULL AND key_id IS NOT NULL`);
    db.exec('DROP TABLE audit_events_v1');
  })();
}

/** A derived table kept in the same transaction as audit_events (e.g. key and membership timelines). */
export interface AuditExtension {
  readonly name: string;
  /** Tables to drop on rebuild. */
  readonly tables: readonly string[];
  /**
   * Run at open, after audit_events exists: creates (or brings up to date) the extension's tables and returns its
   * applier, called once per event inside the batch transaction after the event's audit_events row is inserted.
   */
  prepare(db: Database.Database): (row: AuditRow, e: RecordedEvent) => void;
  /** DDL of indexes its applier never reads (only queries do): a long catch-up builds them after the rows, like audit_events'. */
  readonly deferrableIndexes?: string;
}

export class AuditDb {
  readonly db: Database.Database;
  private readonly insertRow: { run(row: AuditRow): unknown };
  private readonly setMeta: Database.Statement<[string, string]>;
  private appliers: Array<(row: AuditRow, e: RecordedEvent) => void> = [];
  private state: AuditState;
  private clockState: { hw: number; skew: number };
  private readonly applyBatchTx: (events: readonly RecordedEvent[]) => void;
  /** While indexes are deferred: each key's first row's workspace (what audit_by_key answers otherwise). */
  private firstRows: Map<string, string | null> | null = null;

  constructor(
    readonly file: string,
    private readonly extensions: readonly AuditExtension[] = [],
    /** writer: the connection that keeps the file up to date (the writer process), not the server's reading one. */
    opts: { readonly?: boolean; writer?: boolean } = {},
  ) {
    if (opts.readonly === true && opts.writer === true) throw new TypeError('a read-only connection is not the writer');
    if (!opts.readonly) secureSqliteFile(file);
    this.db = new Database(file, opts.readonly ? { readonly: true, fileMustExist: true } : {});
    if (!opts.readonly) {
      // Rows are ~1 KB: 16 KiB pages hold them with little waste and make export scans cheaper (no effect on an existing file).
      this.db.pragma(`page_size = ${PAGE_BYTES}`);
      this.db.pragma('journal_mode = WAL');
      // The audit model is rebuildable from the ledger, so NORMAL durability is enough here.
      this.db.pragma('synchronous = NORMAL');
    }
    if (opts.writer === true) {
      // Live rows go to each key's own index leaf: with the driver's 16 MB cache most inserts re-read theirs from the file.
      this.db.pragma(`cache_size = -${WRITER_CACHE_KIB}`);
      // Fewer checkpoints: a hot index page written by many commits is copied back into the file once per checkpoint.
      this.db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    }
    this.db.pragma('busy_timeout = 5000');
    if (!opts.readonly) this.migrate();
    // Positional, not named from the row object: the driver then looks up no property by name (~2 µs/row less, bench).
    const insert = this.db.prepare<[Array<string | number | null>]>(INSERT_ROW_SQL);
    this.insertRow = { run: (row: AuditRow) => insert.run(storedValues(row)) };
    this.setMeta = this.db.prepare(
      'INSERT INTO audit_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
    );
    const firstOfKey = this.db
      // A key's first event is its ApiKeyCreated. INDEXED BY: without statistics the planner may pick the type index and scan.
      .prepare('SELECT about_ws FROM audit_events INDEXED BY audit_by_key WHERE key_id = ? ORDER BY position LIMIT 1')
      .pluck() as Database.Statement<[string], string | null>;
    // Most events are uses of a few hot keys: remember their workspace.
    const known = new KeyWorkspaces();
    const keyWorkspace = (keyId: string): string | null => {
      // While indexes are deferred every key's first row is in memory (audit_by_key is one of the deferred indexes).
      if (this.firstRows !== null) return this.firstRows.get(keyId) ?? null;
      let ws = known.get(keyId);
      if (ws === undefined) known.remember(keyId, (ws = firstOfKey.get(keyId) ?? null));
      return ws;
    };
    this.state = this.readState();
    this.clockState = this.readClockState();
    this.applyBatchTx = this.db.transaction((events: readonly RecordedEvent[]) => {
      let { position, chain } = this.state;
      let { hw, skew } = this.clockState;
      for (const e of events) {
        if (e.position <= position) continue; // replayed: idempotent
        const row = flatten(e, chain, hw); // fresh: completed in place
        hw = row.ms_hw;
        skew = Math.max(skew, hw - row.occurred_ms);
        if (row.about_ws === null && row.key_id !== null) row.about_ws = keyWorkspace(row.key_id);
        this.insertRow.run(row);
        if (row.key_id !== null && this.firstRows !== null && !this.firstRows.has(row.key_id))
          this.firstRows.set(row.key_id, row.about_ws);
        if (row.type === 'ApiKeyCreated' && row.key_id !== null) known.remember(row.key_id, row.about_ws);
        for (const apply of this.appliers) apply(row, e);
        position = e.position;
        chain = row.chain;
      }
      this.setMeta.run('position', String(position));
      this.setMeta.run('chain', chain);
      if (skew !== this.clockState.skew) this.setMeta.run('ms_skew', String(skew));
      this.state = { position, chain };
      this.clockState = { hw, skew };
    });
  }

  private migrate(): void {
    const columns = (this.db.prepare('PRAGMA table_xinfo(audit_events)').all() as Array<{ name: string }>).map(
      (c) => c.name,
    );
    if (columns.length > 0 && !columns.includes('line')) migrateV1(this.db);
    this.db.exec(DDL);
    this.db
      .prepare(
        "INSERT INTO audit_meta (name, value) VALUES ('schema', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
      )
      .run(String(AUDIT_SCHEMA_VERSION));
    this.appliers = this.extensions.map((x) => x.prepare(this.db));
  }

  private readState(): AuditState {
    const get = (name: string): string | undefined =>
      (this.db.prepare('SELECT value FROM audit_meta WHERE name = ?').get(name) as { value: string } | undefined)
        ?.value;
    return { position: Number(get('position') ?? -1), chain: get('chain') ?? GENESIS_CHAIN };
  }

  /** ms_hw of the last row, and the largest amount by which an event's time ever lagged behind an earlier one's. */
  private readClockState(): { hw: number; skew: number } {
    const hw = this.db.prepare('SELECT ms_hw FROM audit_events ORDER BY position DESC LIMIT 1').pluck().get() as
      number | undefined;
    const skew = this.db.prepare("SELECT value FROM audit_meta WHERE name = 'ms_skew'").pluck().get() as
      string | undefined;
    return { hw: hw ?? 0, skew: Number(skew ?? 0) };
  }

  /** Last applied ledger position and the chain value there (the checkpoint). */
  get checkpoint(): AuditState {
    return this.state;
  }

  /** The checkpoint as stored in the file (another connection, e.g. the writer process, may have moved it). */
  storedState(): AuditState {
    return this.readState();
  }

  /** Applies events in order, in one transaction, advancing the checkpoint with them. */
  applyBatch(events: readonly RecordedEvent[]): void {
    if (events.length > 0) this.applyBatchTx(events);
  }

  /**
   * For a long catch-up: drops the indexes that can be built afterwards (queries wait for the catch-up anyway), keeping
   * each key's workspace in memory instead (about 100 bytes per key, until restoreIndexes). If the process dies
   * meanwhile, the next open recreates them (the schema is applied at every open).
   */
  deferIndexes(): void {
    // Each key's first row (SQLite takes the bare column from the min() row): a resumed catch-up starts with all of them.
    const first = this.db
      .prepare<[], [string, string | null, number]>(
        'SELECT key_id, about_ws, min(position) FROM audit_events WHERE key_id IS NOT NULL GROUP BY key_id',
      )
      .raw(true)
      .all();
    this.firstRows = new Map(first.map(([key, ws]) => [key, ws]));
    for (const ix of this.deferrableDdl().flatMap(indexNames)) this.db.exec(`DROP INDEX IF EXISTS ${ix}`);
  }

  /** Builds the indexes deferIndexes dropped (each by one sort over the table). */
  restoreIndexes(): void {
    for (const ddl of this.deferrableDdl()) this.db.exec(ddl);
    this.firstRows = null;
  }

  /** DDL of every index a long catch-up builds after its rows: audit_events' and the extensions' query-only ones. */
  private deferrableDdl(): string[] {
    return [AUDIT_INDEXES, ...this.extensions.flatMap((x) => x.deferrableIndexes ?? [])];
  }

  /** Drops every table and starts from the genesis chain (on an empty file, with the current page size). */
  reset(): void {
    this.db.exec('DROP TABLE IF EXISTS audit_events; DROP TABLE IF EXISTS audit_meta;');
    for (const x of this.extensions) for (const t of x.tables) this.db.exec(`DROP TABLE IF EXISTS "${t}"`);
    if (
      this.db.pragma('page_size', { simple: true }) !== PAGE_BYTES &&
      this.db.pragma('journal_mode = DELETE', { simple: true }) === 'delete'
    ) {
      // The page size of a WAL file changes only through a VACUUM outside WAL mode; the file is empty now, so this is quick.
      this.db.pragma(`page_size = ${PAGE_BYTES}`);
      this.db.exec('VACUUM');
      this.db.pragma('journal_mode = WAL');
    }
    this.migrate();
    this.state = { position: -1, chain: GENESIS_CHAIN };
    this.clockState = { hw: 0, skew: 0 };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
