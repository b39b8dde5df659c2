// Renders audit_events as export records (JSONL or CSV) page by page, hashing the exact bytes, and builds the manifest.
// The exporter and the offline verifier share the renderers, so a verifier can rebuild every record byte for byte.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { GENESIS_CHAIN } from '../../events/chain.js';
import type { AuditRow } from '../../projections/audit/audit-db.js';
import { auditWhere, selectsEverything, type AuditFilters } from './filters.js';
import { MANIFEST_VERSION, type CheckpointRef, type ExportFormat, type ExportManifest } from './manifest.js';

export const PAGE_SIZE = 1000;

export const CSV_COLUMNS = [
  'position',
  'occurred_at',
  'type',
  'key_id',
  'user_id',
  'workspace_id',
  'actor_type',
  'actor_id',
  'ip',
  'user_agent',
  'request_id',
  'scheme',
  'token_digest',
  'prev_chain',
  'chain',
  'event',
] as const satisfies ReadonlyArray<keyof AuditRow>;

/** The CSV header line (not covered by recordsSha256; the verifier demands it byte for byte). */
export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

export type ExportRow = Pick<AuditRow, (typeof CSV_COLUMNS)[number]>;

const NEEDS_CARE = /[",\r\n]|^[\s=+\-@]|\s$/;
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

/** The derived cells (CSV_COLUMNS 1–12) that can be anything the request or event carried. */
export const DERIVED_CELLS = CSV_COLUMNS.slice(1, 13);

/** True when every derived cell is written as is (flatCell changes nothing): the exporter may then concatenate in SQL. */
export function csvPlain(row: Pick<AuditRow, (typeof DERIVED_CELLS)[number]>): boolean {
  return DERIVED_CELLS.every((c) => {
    const v = row[c];
    return typeof v !== 'string' || !NEEDS_CARE.test(v);
  });
}

/**
 * A derived (flat) CSV cell: a leading = + - @ TAB CR gets a ' so spreadsheets show text instead of running a formula,
 * and raw line breaks become \r \n so one record is one line. The verifier renders cells the same way.
 */
function flatCell(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number' || !NEEDS_CARE.test(v)) return String(v); // the common case: nothing to do
  let s = v.replace(/\r/g, '\\r').replace(/\n/g, '\\n');
  if (FORMULA_START.test(v)) s = `'${s}`;
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

type Cell = string | number | null;

/** A CSV line from the 16 values in CSV_COLUMNS order, the event's quotes already doubled (the exporter has SQLite do it). */
function csvLine(v: readonly Cell[]): string {
  return (
    `${v[0]},${flatCell(v[1]!)},${flatCell(v[2]!)},${flatCell(v[3]!)},${flatCell(v[4]!)},${flatCell(v[5]!)},${flatCell(v[6]!)},` +
    `${flatCell(v[7]!)},${flatCell(v[8]!)},${flatCell(v[9]!)},${flatCell(v[10]!)},${flatCell(v[11]!)},${flatCell(v[12]!)},` +
    `${v[13]},${v[14]},"${v[15]}"\r\n`
  );
}

/** One CSV record line (RFC 4180, CRLF). The event cell is the stored JSON verbatim, always quoted, never altered. */
export function csvRecord(r: ExportRow): string {
  return csvLine(CSV_COLUMNS.map((c) => (c === 'event' ? r.event.replaceAll('"', '""') : r[c])));
}

/** Collects a page of lines into one Buffer (encoding each line once, no giant concatenated string). */
class PageBuffer {
  private buf = Buffer.allocUnsafe(1 << 20);
  private off = 0;
  add(line: string): void {
    if (this.buf.length - this.off < line.length * 3) {
      const next = Buffer.allocUnsafe(this.buf.length * 2 + line.length * 3);
      this.buf.copy(next, 0, 0, this.off);
      this.buf = next;
    }
    this.off += this.buf.write(line, this.off, 'utf8');
  }
  take(): Buffer {
    return this.buf.subarray(0, this.off);
  }
}

/** Splits one CSV line (no line ending) into its cells; null when the quoting is broken. */
export function parseCsvLine(line: string): string[] | null {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === 34 /* " */) {
      let cell = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q === -1) return null;
        cell += line.slice(j, q);
        if (line.charCodeAt(q + 1) === 34) {
          cell += '"';
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      cells.push(cell);
    } else {
      const c = line.indexOf(',', i);
      const end = c === -1 ? line.length : c;
      const cell = line.slice(i, end);
      if (cell.includes('"')) return null;
      cells.push(cell);
      i = end;
    }
    if (i === line.length) return cells;
    if (line.charCodeAt(i) !== 44 /* , */) return null;
    i++;
  }
}

export interface ExportSpec {
  readonly filters: AuditFilters;
  /** The workspaces the caller may export (auditScope with audit:export); null: the whole ledger. */
  readonly scope: readonly string[] | null;
  readonly format: ExportFormat;
  /** Last ledger position included: the snapshot the export is pinned to. */
  readonly toPosition: number;
}

export interface ExportTotals {
  readonly count: number;
  readonly firstChain: string | null;
  readonly lastChain: string | null;
  readonly recordsSha256: string;
}

/** One page of the export: how many records, the first and last position, and their bytes. */
type Page = { count: number; first: number; last: number; chunk: Buffer };

/**
 * Pages of JSONL: the stored records (audit_events.line) concatenated by SQLite into one BLOB per page, so the bytes
 * go from the file to the socket without being decoded into strings or re-serialized. The subquery's ORDER BY feeds
 * group_concat in position order (the verifier would reject any other order: OUT_OF_ORDER).
 */
function jsonlPages(db: Database.Database, where: string): (after: number, toPosition: number, params: readonly Cell[]) => Page | null {
  const stmt = db
    .prepare(
      `SELECT count(*), min(position), max(position), CAST(group_concat(line, '') AS BLOB)
       FROM (SELECT position, line FROM audit_events WHERE position > ? AND position <= ?${where} ORDER BY position LIMIT ${PAGE_SIZE})`,
    )
    .raw(true);
  return (after, toPosition, params) => {
    const [count, first, last, chunk] = stmt.get(after, toPosition, ...params) as [number, number, number, Buffer];
    return count === 0 ? null : { count, first, last, chunk };
  };
}

/** csvLine in SQL for a row whose derived cells are plain (audit_events.csv_plain): they are written as stored. */
const CSV_LINE_SQL = `concat_ws(',', position, ${DERIVED_CELLS.map((c) => `ifnull(${c}, '')`).join(', ')}, prev_chain, chain, '"' || replace(event, '"', '""') || '"') || char(13, 10)`;

/**
 * Pages of CSV: lines built and concatenated by SQLite like JSONL pages when every row's derived cells are plain; a
 * page holding a cell that needs the formula guard, quoting or escaping is read again as rows and rendered here.
 */
function csvPages(db: Database.Database, where: string): (after: number, toPosition: number, params: readonly Cell[]) => Page | null {
  const range = `FROM audit_events WHERE position > ? AND position <= ?${where} ORDER BY position LIMIT ${PAGE_SIZE}`;
  const fast = db
    .prepare(
      `SELECT count(*), count(line), min(position), max(position), CAST(group_concat(line, '') AS BLOB)
       FROM (SELECT position, CASE WHEN csv_plain THEN ${CSV_LINE_SQL} END AS line ${range})`,
    )
    .raw(true);
  const slow = db.prepare(`SELECT ${CSV_COLUMNS.slice(0, -1).join(', ')}, replace(event, '"', '""') ${range}`).raw(true);
  return (after, toPosition, params) => {
    const [count, rendered, first, last, chunk] = fast.get(after, toPosition, ...params) as [number, number, number, number, Buffer];
    if (count === 0) return null;
    if (rendered === count) return { count, first, last, chunk };
    const out = new PageBuffer();
    for (const r of slow.all(after, toPosition, ...params) as Cell[][]) out.add(csvLine(r));
    return { count, first, last, chunk: out.take() };
  };
}

/**
 * Writes every matching record up to spec.toPosition, oldest first, as one Buffer per page of PAGE_SIZE rows.
 * Keyset paging (position > last) with short statements: the projection writes on this same connection meanwhile.
 * `write` resolves when the consumer can take more; it rejects to stop the export.
 */
export async function writeRecords(db: Database.Database, spec: ExportSpec, write: (chunk: Buffer) => Promise<void>): Promise<ExportTotals> {
  const where = auditWhere(spec.filters, spec.scope);
  const everything = selectsEverything(spec.filters, spec.scope);
  const filter = everything ? '' : ` AND (${where.sql})`;
  const next = (spec.format === 'jsonl' ? jsonlPages : csvPages)(db, filter);
  const params = everything ? [] : where.params;
  const chainAt = db.prepare('SELECT chain FROM audit_events WHERE position = ?').pluck();
  const hash = createHash('sha256');
  let last = Number.MIN_SAFE_INTEGER;
  let first: number | null = null;
  let count = 0;
  for (;;) {
    const page = next(last, spec.toPosition, params);
    if (page === null) break;
    hash.update(page.chunk);
    first ??= page.first;
    last = page.last;
    count += page.count;
    await write(page.chunk);
    if (page.count < PAGE_SIZE) break;
  }
  const chain = (p: number | null): string | null => (p === null ? null : (chainAt.get(p) as string));
  return { count, firstChain: chain(first), lastChain: count === 0 ? null : chain(last), recordsSha256: hash.digest('hex') };
}

/** The newest signed checkpoint recorded at or before `position`, if any. */
export function checkpointAtOrBefore(db: Database.Database, position: number): CheckpointRef | null {
  const row = db.prepare("SELECT event FROM audit_events WHERE type = 'LedgerCheckpointed' AND position <= ? ORDER BY position DESC LIMIT 1").get(position) as
    { event: string } | undefined;
  if (!row) return null;
  const d = (JSON.parse(row.event) as { data: CheckpointRef }).data;
  return { position: d.position, chain: d.chain, at: d.at, kid: d.kid, signature: d.signature };
}

/** Assembles the (unsigned) manifest for records written up to spec.toPosition. */
export function buildManifest(db: Database.Database, spec: ExportSpec, totals: ExportTotals, kid: string, now: Date): ExportManifest {
  const first = db.prepare('SELECT MIN(position) AS p FROM audit_events').get() as { p: number | null };
  const head = db.prepare('SELECT position, chain FROM audit_events WHERE position <= ? ORDER BY position DESC LIMIT 1').get(spec.toPosition) as
    { position: number; chain: string } | undefined;
  return {
    version: MANIFEST_VERSION,
    format: spec.format,
    generatedAt: now.toISOString(),
    filters: spec.filters,
    scope: spec.scope === null ? null : [...spec.scope],
    range: { fromPosition: first.p ?? 0, toPosition: spec.toPosition, from: spec.filters.from ?? null, to: spec.filters.to ?? null },
    count: totals.count,
    firstChain: totals.firstChain,
    lastChain: totals.lastChain,
    recordsSha256: totals.recordsSha256,
    head: { position: spec.toPosition, chain: head?.chain ?? GENESIS_CHAIN },
    checkpoint: checkpointAtOrBefore(db, spec.toPosition),
    kid,
  };
}
