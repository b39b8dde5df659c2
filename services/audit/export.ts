// Renders audit_events as export records (JSONL or CSV) page by page, hashing the exact bytes, and builds the manifest.
// The exporter and the offline verifier share the renderers, so a verifier can rebuild every record byte for byte.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { GENESIS_CHAIN } from '../../events/chain.js';
import type { AuditRow } from './audit-db.js';
import { auditWhere, type AuditFilters } from './filters.js';
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

/** One JSONL record line; `event` is the stored canonical JSON, written verbatim. */
export function jsonlRecord(r: Pick<AuditRow, 'position' | 'prev_chain' | 'chain' | 'event'>): string {
  return jsonlLine([r.position, r.prev_chain, r.chain, r.event]);
}

const NEEDS_CARE = /[",\r\n]|^[\s=+\-@]|\s$/;
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

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

/** The JSONL line from raw [position, prev_chain, chain, event]. */
function jsonlLine(v: readonly Cell[]): string {
  return `{"position":${v[0]},"prevChain":"${v[1]}","chain":"${v[2]}","event":${v[3]}}\n`;
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

function isUnfiltered(f: AuditFilters): boolean {
  return Object.values(f).every((v) => v === undefined);
}

/**
 * Writes every matching record up to spec.toPosition, oldest first, as one Buffer per page of PAGE_SIZE rows.
 * Keyset paging (position > last) with short statements: the projection writes on this same connection meanwhile.
 * `write` resolves when the consumer can take more; it rejects to stop the export.
 */
export async function writeRecords(db: Database.Database, spec: ExportSpec, write: (chunk: Buffer) => Promise<void>): Promise<ExportTotals> {
  const where = auditWhere(spec.filters);
  // For CSV, SQLite doubles the event's quotes (RFC 4180) faster than a JS replace would.
  const cols = spec.format === 'jsonl' ? 'position, prev_chain, chain, event' : `${CSV_COLUMNS.slice(0, -1).join(', ')}, replace(event, '"', '""')`;
  const filter = isUnfiltered(spec.filters) ? '' : ` AND (${where.sql})`;
  const page = db.prepare(`SELECT ${cols} FROM audit_events WHERE position > ? AND position <= ?${filter} ORDER BY position LIMIT ${PAGE_SIZE}`).raw(true);
  const params = isUnfiltered(spec.filters) ? [] : where.params;
  const render = spec.format === 'jsonl' ? jsonlLine : csvLine;
  const chainAt = spec.format === 'jsonl' ? 2 : 14;
  const hash = createHash('sha256');
  let last = Number.MIN_SAFE_INTEGER;
  let count = 0;
  let firstChain: string | null = null;
  let lastChain: string | null = null;
  for (;;) {
    // Raw arrays: no per-row object, and the stored event JSON is written verbatim.
    const rows = page.all(last, spec.toPosition, ...params) as Cell[][];
    if (rows.length === 0) break;
    const out = new PageBuffer();
    for (const r of rows) out.add(render(r));
    const chunk = out.take();
    hash.update(chunk);
    const tail = rows[rows.length - 1]!;
    firstChain ??= rows[0]![chainAt] as string;
    lastChain = tail[chainAt] as string;
    last = tail[0] as number;
    count += rows.length;
    await write(chunk);
    if (rows.length < PAGE_SIZE) break;
  }
  return { count, firstChain, lastChain, recordsSha256: hash.digest('hex') };
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
