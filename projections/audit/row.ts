// One audit event as a row: the columns audit.db stores and the CSV record an export writes, shared by the
// projection, the exporter and the offline verifier so all three render the same bytes.

/** One row of audit_events, as the query, history and export code read it. */
export interface AuditRow {
  readonly position: number;
  readonly event_id: string;
  readonly stream_id: string;
  readonly revision: number;
  readonly type: string;
  readonly occurred_at: string;
  readonly occurred_ms: number;
  /**
   * Running maximum of occurred_ms up to this position: never decreases along the log, so time filters become position
   * ranges (see the skew bound in audit_meta 'ms_skew' and filters.ts auditWhere).
   */
  readonly ms_hw: number;
  readonly key_id: string | null;
  readonly user_id: string | null;
  readonly workspace_id: string | null;
  /**
   * The workspace the event is about: its own workspaceId, or for key events that carry only keyId (used, rotated,
   * revoked…) the workspace the key was created in. What the workspaceId filter and the caller's audit scope match.
   */
  readonly about_ws: string | null;
  readonly actor_type: string | null;
  readonly actor_id: string | null;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly request_id: string | null;
  readonly scheme: string | null;
  readonly token_digest: string | null;
  /** 1 when no derived CSV cell needs quoting, escaping or the formula guard (export.ts csvPlain), else 0. */
  readonly csv_plain: number;
  /** The JSONL export record of this event, newline included: the bytes a JSONL export streams, verbatim. */
  readonly line: string;
  readonly prev_chain: string;
  readonly chain: string;
  /** canonicalJson({id, streamId, revision, position, type, data, metadata}) with secrets redacted. */
  readonly event: string;
}

/** A row while it is being built (flatten, then the store fills about_ws): completed in place, not copied. */
export type RowDraft = { -readonly [K in keyof AuditRow]: AuditRow[K] };

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

export type Cell = string | number | null;

/** A CSV line from the 16 values in CSV_COLUMNS order, the event's quotes already doubled (the exporter has SQLite do it). */
export function csvLine(v: readonly Cell[]): string {
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
