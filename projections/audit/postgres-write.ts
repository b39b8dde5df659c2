// Writing the audit tables on PostgreSQL: one transaction per batch that first locks the stored checkpoint, so two
// writers (a lease holder and one that has not yet noticed it lost the lease) can never interleave, and every event
// at or before the stored position is skipped: a takeover resumes exactly where the last commit ended.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { StoreUnavailableError } from '../../events/errors.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { flatten } from './flatten.js';
import type { KeyWorkspaces } from './key-workspaces.js';
import { fromPgText, toPgText } from './postgres-schema.js';
import { applyTimeline } from './postgres-timeline.js';
import { TIMELINE_TYPES } from './timeline-fold.js';
import type { AuditRow } from './row.js';
import type { AuditState } from './store.js';
import type { Data } from './timeline.js';

/** Columns written, with their types; text columns go through toPgText. */
const COLUMNS: ReadonlyArray<readonly [keyof AuditRow, string]> = [
  ['position', 'bigint'],
  ['event_id', 'text'],
  ['stream_id', 'text'],
  ['revision', 'int'],
  ['type', 'text'],
  ['occurred_at', 'text'],
  ['occurred_ms', 'bigint'],
  ['ms_hw', 'bigint'],
  ['key_id', 'text'],
  ['user_id', 'text'],
  ['workspace_id', 'text'],
  ['about_ws', 'text'],
  ['actor_type', 'text'],
  ['actor_id', 'text'],
  ['ip', 'text'],
  ['user_agent', 'text'],
  ['request_id', 'text'],
  ['scheme', 'text'],
  ['token_digest', 'text'],
  ['csv_plain', 'boolean'],
  ['prev_chain', 'text'],
  ['chain', 'text'],
  ['line', 'text'],
];

/** Rows flattened and copied at a time: what a large batch holds in memory at once. */
const ROWS_PER_COPY = 2000;
const NAMES = COLUMNS.map(([c]) => c).join(', ');

interface Stored extends AuditState {
  readonly ms_hw: number;
  readonly ms_skew: number;
}

/** Positions of the PostgreSQL ledger are gap-free from 1: a batch that does not follow the stored position is refused. */
export class AuditGapError extends StoreUnavailableError {
  constructor(stored: number, first: number) {
    super(
      `the audit tables hold position ${stored} but the next event to apply is ${first}: resuming from what is stored`,
      null,
      true,
    );
  }
}

/**
 * The workspace of each key's first stored row (what its events without a workspace are about); absent: no row. One
 * index probe per key (LIMIT 1 under LATERAL): DISTINCT ON over the keys' rows read every row of each, which grows
 * with the key's history. Remembered answers cost no query.
 */
async function keyWorkspaces(
  c: pg.ClientBase,
  keys: Set<string>,
  known: KeyWorkspaces,
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  const ask: string[] = [];
  for (const k of keys) {
    const ws = known.get(k);
    if (ws === undefined) ask.push(k);
    else out.set(k, ws);
  }
  if (ask.length === 0) return out;
  const r = await c.query<{ key_id: string; about_ws: string | null }>(
    `SELECT k.key_id, f.about_ws FROM unnest($1::text[]) AS k(key_id)
     CROSS JOIN LATERAL (SELECT about_ws FROM audit_events e WHERE e.key_id = k.key_id ORDER BY e.position LIMIT 1) f`,
    [ask.map(toPgText)],
  );
  for (const x of r.rows) {
    const ws = fromPgText(x.about_ws);
    known.remember(fromPgText(x.key_id), ws);
    out.set(fromPgText(x.key_id), ws);
  }
  return out;
}

/** Where the batch has got to: the chain and clock state after its last row. */
interface Cursor {
  chain: string;
  hw: number;
  skew: number;
}

/**
 * Flattens one chunk of events, advancing `at`, and gives each key event without a workspace its key's: that of the
 * key's first row, stored before (earlier chunks of this batch included: they are in the transaction) or in this chunk.
 */
async function flattenChunk(
  c: pg.ClientBase,
  at: Cursor,
  events: readonly RecordedEvent[],
  known: KeyWorkspaces,
): Promise<Array<{ row: AuditRow; data: Data }>> {
  const flat = events.map((e) => {
    const row = flatten(e, at.chain, at.hw);
    at.hw = row.ms_hw;
    at.skew = Math.max(at.skew, at.hw - row.occurred_ms);
    at.chain = row.chain;
    return { row, data: (e.data ?? {}) as Data };
  });
  const unknown = new Set(
    flat.filter((f) => f.row.about_ws === null && f.row.key_id !== null).map((f) => f.row.key_id!),
  );
  const before = await keyWorkspaces(c, unknown, known);
  const first = new Map<string, string | null>();
  return flat.map((f) => {
    const k = f.row.key_id;
    if (k === null) return f;
    const row =
      f.row.about_ws === null ? { ...f.row, about_ws: before.has(k) ? before.get(k)! : (first.get(k) ?? null) } : f.row;
    if (!first.has(k)) {
      first.set(k, row.about_ws);
      // The key's first row is this one: asked and not stored, or its creation. The same log always gives the same
      // first row, so what is remembered here holds even if this transaction is rolled back and redone.
      if ((unknown.has(k) && !before.has(k)) || row.type === 'ApiKeyCreated') known.remember(k, row.about_ws);
    }
    return { row, data: f.data };
  });
}

/** COPY's text format escapes these four in a value (a backslash starts an escape; tab, newline end a cell or row). */
const COPY_SPECIAL = /[\\\t\n\r]/g;
const COPY_ESCAPE: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One cell in COPY's text format: \N for null, booleans as t/f, numbers as written, text escaped. */
function copyCell(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') return String(v);
  return (v as string).replace(COPY_SPECIAL, (ch) => COPY_ESCAPE[ch]!);
}

/**
 * Inserts by COPY: the server parses no statement and binds no parameters (a multi-row INSERT of 2,000 rows spent more
 * time there than in the rows' own writes). No conflict is possible: only rows after the locked checkpoint are new.
 */
async function insertRows(c: pg.ClientBase, rows: ReadonlyArray<{ row: AuditRow }>): Promise<void> {
  let text = '';
  for (const { row } of rows) {
    const cells = COLUMNS.map(([col, type]) =>
      copyCell(
        col === 'csv_plain' ? row.csv_plain === 1 : type === 'text' ? toPgText(row[col] as string | null) : row[col],
      ),
    );
    text += `${cells.join('\t')}\n`;
  }
  await pipeline(Readable.from([Buffer.from(text)]), c.query(copyFrom(`COPY audit_events (${NAMES}) FROM STDIN`)));
}

/** The stored checkpoint, locked until the transaction ends: writers and a rebuild take their turn here. */
export async function lockCheckpoint(c: pg.ClientBase): Promise<Stored> {
  const r = await c.query<Stored>(
    'SELECT position, chain, ms_hw, ms_skew FROM audit_checkpoint WHERE id = 1 FOR UPDATE',
  );
  const row = r.rows[0];
  if (!row) throw new StoreUnavailableError('the audit checkpoint row is missing', null, false);
  return row;
}

/**
 * Applies a batch inside the caller's transaction: rows after the stored position, their timelines, the new
 * checkpoint. `gapFree`: the events come from the PostgreSQL ledger, whose positions have no gaps.
 */
export async function applyBatchIn(
  c: pg.ClientBase,
  events: readonly RecordedEvent[],
  gapFree: boolean,
  known: KeyWorkspaces,
): Promise<{ state: AuditState; written: number }> {
  // Rebuildable from the log, and the checkpoint commits with the rows: a commit lost in a crash is simply redone.
  await c.query('SET LOCAL synchronous_commit = off');
  const stored = await lockCheckpoint(c);
  const fresh = events.filter((e) => e.position > stored.position); // already stored: idempotent
  const next = fresh[0];
  if (next === undefined) return { state: { position: stored.position, chain: stored.chain }, written: 0 };
  if (gapFree && next.position > Math.max(stored.position, 0) + 1)
    throw new AuditGapError(stored.position, next.position);
  const at: Cursor = { chain: stored.chain, hw: stored.ms_hw, skew: stored.ms_skew };
  // In chunks, so a large batch never holds all its rows at once; only the few the timelines need are kept.
  const timeline: Array<{ row: AuditRow; data: Data }> = [];
  for (let i = 0; i < fresh.length; i += ROWS_PER_COPY) {
    const rows = await flattenChunk(c, at, fresh.slice(i, i + ROWS_PER_COPY), known);
    await insertRows(c, rows);
    for (const r of rows) if (TIMELINE_TYPES.has(r.row.type)) timeline.push(r);
  }
  await applyTimeline(c, timeline);
  const position = fresh[fresh.length - 1]!.position;
  await c.query('UPDATE audit_checkpoint SET position = $1, chain = $2, ms_hw = $3, ms_skew = $4 WHERE id = 1', [
    position,
    at.chain,
    at.hw,
    at.skew,
  ]);
  return { state: { position, chain: at.chain }, written: fresh.length };
}
