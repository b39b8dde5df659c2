// Renders audit_events as export records (JSONL or CSV) page by page, hashing the exact bytes, and builds the manifest.
// The exporter and the offline verifier share the renderers, so a verifier can rebuild every record byte for byte.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { GENESIS_CHAIN } from '../../events/chain.js';
import { CSV_COLUMNS, csvLine, DERIVED_CELLS, type Cell } from '../../projections/audit/row.js';
import { auditWhere, selectsEverything, type AuditFilters } from './filters.js';
import { MANIFEST_VERSION, type CheckpointRef, type ExportFormat, type ExportManifest } from './manifest.js';

export const PAGE_SIZE = 1000;

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
function jsonlPages(
  db: Database.Database,
  where: string,
): (after: number, toPosition: number, params: readonly Cell[]) => Page | null {
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
function csvPages(
  db: Database.Database,
  where: string,
): (after: number, toPosition: number, params: readonly Cell[]) => Page | null {
  const range = `FROM audit_events WHERE position > ? AND position <= ?${where} ORDER BY position LIMIT ${PAGE_SIZE}`;
  const fast = db
    .prepare(
      `SELECT count(*), count(line), min(position), max(position), CAST(group_concat(line, '') AS BLOB)
       FROM (SELECT position, CASE WHEN csv_plain THEN ${CSV_LINE_SQL} END AS line ${range})`,
    )
    .raw(true);
  const slow = db
    .prepare(`SELECT ${CSV_COLUMNS.slice(0, -1).join(', ')}, replace(event, '"', '""') ${range}`)
    .raw(true);
  return (after, toPosition, params) => {
    const [count, rendered, first, last, chunk] = fast.get(after, toPosition, ...params) as [
      number,
      number,
      number,
      number,
      Buffer,
    ];
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
export async function writeRecords(
  db: Database.Database,
  spec: ExportSpec,
  write: (chunk: Buffer) => Promise<void>,
): Promise<ExportTotals> {
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
  return {
    count,
    firstChain: chain(first),
    lastChain: count === 0 ? null : chain(last),
    recordsSha256: hash.digest('hex'),
  };
}

/** The newest signed checkpoint recorded at or before `position`, if any. */
export function checkpointAtOrBefore(db: Database.Database, position: number): CheckpointRef | null {
  const row = db
    .prepare(
      "SELECT event FROM audit_events WHERE type = 'LedgerCheckpointed' AND position <= ? ORDER BY position DESC LIMIT 1",
    )
    .get(position) as { event: string } | undefined;
  if (!row) return null;
  const d = (JSON.parse(row.event) as { data: CheckpointRef }).data;
  return { position: d.position, chain: d.chain, at: d.at, kid: d.kid, signature: d.signature };
}

/** Assembles the (unsigned) manifest for records written up to spec.toPosition. */
export function buildManifest(
  db: Database.Database,
  spec: ExportSpec,
  totals: ExportTotals,
  kid: string,
  now: Date,
): ExportManifest {
  const first = db.prepare('SELECT MIN(position) AS p FROM audit_events').get() as { p: number | null };
  const head = db
    .prepare('SELECT position, chain FROM audit_events WHERE position <= ? ORDER BY position DESC LIMIT 1')
    .get(spec.toPosition) as { position: number; chain: string } | undefined;
  return {
    version: MANIFEST_VERSION,
    format: spec.format,
    generatedAt: now.toISOString(),
    filters: spec.filters,
    scope: spec.scope === null ? null : [...spec.scope],
    range: {
      fromPosition: first.p ?? 0,
      toPosition: spec.toPosition,
      from: spec.filters.from ?? null,
      to: spec.filters.to ?? null,
    },
    count: totals.count,
    firstChain: totals.firstChain,
    lastChain: totals.lastChain,
    recordsSha256: totals.recordsSha256,
    head: { position: spec.toPosition, chain: head?.chain ?? GENESIS_CHAIN },
    checkpoint: checkpointAtOrBefore(db, spec.toPosition),
    kid,
  };
}
