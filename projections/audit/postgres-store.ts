// The audit store on PostgreSQL: tables in the ledger's own database, written by the holder of the audit-writer lease
// and read by every instance. Client: `pg`, the driver the PostgreSQL ledger already uses (one pool per process).
import { checkout } from '../../events/store/pg-checkout.js';
import pg from 'pg';
import { GENESIS_CHAIN } from '../../events/chain.js';
import type { RecordedEvent, Subscription } from '../../events/store/types.js';
import { followInChild } from './follower-process.js';
import { AUDIT_TYPES, PG_AUDIT_TABLES, auditPgError, fromPgText, migrateAudit, toPgText } from './postgres-schema.js';
import { KeyWorkspaces } from './key-workspaces.js';
import { applyBatchIn, lockCheckpoint } from './postgres-write.js';
import { CSV_COLUMNS, csvLine, DERIVED_CELLS, type AuditRow, type Cell } from './row.js';
import { PageBuffer } from './page-buffer.js';
import {
  CHECKPOINT_TYPE,
  type AuditState,
  type AuditStore,
  type KeyLink,
  type PageQuery,
  type RecordPage,
  type RowQuery,
  type ValidKey,
  type WitnessRow,
} from './store.js';
import { auditWhere, Params } from './where.js';

/** Rows written before the first ANALYZE; after it, each time the rows written since have doubled the table. */
const ANALYZE_AFTER = 10_000;

/** The event cut from the stored record, as SQLite's virtual column does (audit-db.ts LINE_COLUMNS). */
const EVENT = 'substr(line, 176 + length(position::text), length(line) - 177 - length(position::text))';

const TEXT_CELLS = [
  'event_id',
  'stream_id',
  'type',
  'occurred_at',
  'key_id',
  'user_id',
  'workspace_id',
  'about_ws',
  'actor_type',
  'actor_id',
  'ip',
  'user_agent',
  'request_id',
  'scheme',
  'token_digest',
] as const satisfies ReadonlyArray<keyof AuditRow>;

const ROW = `position, event_id, stream_id, revision, type, occurred_at, occurred_ms, ms_hw, key_id, user_id, workspace_id,
  about_ws, actor_type, actor_id, ip, user_agent, request_id, scheme, token_digest, csv_plain::int AS csv_plain, line,
  prev_chain, chain, ${EVENT} AS event`;

/** [position, the derived cells, line] → csvLine's values: decoded cells, then prevChain, chain and the event (quotes doubled). */
function csvCells(row: Cell[]): Cell[] {
  const position = row[0] as number;
  const line = row[DERIVED_CELLS.length + 1] as string;
  const d = String(position).length;
  // The line is {"position":P,"prevChain":"<64>","chain":"<64>","event":E}\n (see EVENT above, 0-based here).
  const out: Cell[] = [position];
  for (let i = 1; i <= DERIVED_CELLS.length; i++) out.push(fromPgText(row[i] as string | null));
  out.push(line.slice(26 + d, 90 + d), line.slice(101 + d, 165 + d), line.slice(175 + d, -2).replaceAll('"', '""'));
  return out;
}

function decodeRow(r: Record<string, unknown>): AuditRow {
  for (const c of TEXT_CELLS) r[c] = fromPgText(r[c] as string | null);
  return r as unknown as AuditRow;
}

export interface PostgresAuditOptions {
  /** Connections in this process's pool (reads share them; a batch holds one). */
  readonly poolSize?: number;
  /** The events come from the PostgreSQL ledger, whose positions have no gaps: refuse a batch that skips some. */
  readonly gapFree?: boolean;
  /** false: the tables exist (a server opened them first): no migration, whose lock a low-priority process must not hold. */
  readonly migrate?: boolean;
  /** The URL of the PostgreSQL ledger this store is written from by a writer process (`follow`), off the request loop. */
  readonly followsLedger?: string;
}

/** What the writer process opens (postgres-follower-worker.ts). */
export interface PostgresFollowerConfig {
  readonly auditUrl: string;
  readonly ledgerUrl: string;
}

export class PostgresAuditStore implements AuditStore {
  readonly kind = 'postgres';
  readonly shared = true;
  private readonly gapFree: boolean;
  /** Rows this process wrote since its last ANALYZE, and up to it. */
  private unanalyzed = 0;
  private analyzed = 0;
  /** Each key's workspace, as its first stored row gives it (they never change). */
  private readonly keyWorkspaces = new KeyWorkspaces();

  readonly follow?: (onPosition: (position: number) => void, onError: (err: unknown) => void) => Subscription;

  private constructor(
    private readonly pool: pg.Pool,
    opts: PostgresAuditOptions,
    url: string,
  ) {
    this.gapFree = opts.gapFree ?? true;
    const ledgerUrl = opts.followsLedger;
    if (ledgerUrl !== undefined) {
      const config: PostgresFollowerConfig = { auditUrl: url, ledgerUrl };
      const script = new URL('./postgres-follower-worker.js', import.meta.url);
      this.follow = (onPosition, onError) => followInChild({ script, config }, onPosition, onError);
    }
  }

  private static pool(url: string, opts: PostgresAuditOptions): pg.Pool {
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 4, types: AUDIT_TYPES });
    // An idle pooled connection that dies (a restart, pg_terminate_backend) must not crash the process.
    pool.on('error', () => undefined);
    return pool;
  }

  /** Connects and creates or migrates the tables. */
  static async open(url: string, opts: PostgresAuditOptions = {}): Promise<PostgresAuditStore> {
    const pool = PostgresAuditStore.pool(url, opts);
    try {
      const c = await checkout(pool);
      try {
        if (opts.migrate !== false) await migrateAudit(c);
      } finally {
        c.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw auditPgError(err, 'open');
    }
    return new PostgresAuditStore(pool, opts, url);
  }

  /** The tables as they are, without creating any (a witness must not make one up); null when there are none. */
  static async openExisting(url: string): Promise<PostgresAuditStore | null> {
    const pool = PostgresAuditStore.pool(url, {});
    try {
      const r = await pool.query<{ t: string | null }>("SELECT to_regclass('audit_checkpoint')::text AS t");
      if (r.rows[0]?.t != null) return new PostgresAuditStore(pool, {}, url);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw auditPgError(err, 'open');
    }
    await pool.end();
    return null;
  }

  private async query<R extends pg.QueryResultRow>(
    what: string,
    text: string,
    values: readonly unknown[],
    rowMode?: 'array',
  ): Promise<R[]> {
    try {
      if (rowMode) return (await this.pool.query({ text, values: [...values], rowMode })).rows as unknown as R[];
      return (await this.pool.query<R>(text, [...values])).rows;
    } catch (err) {
      throw auditPgError(err, what);
    }
  }

  /** Runs `work` in one transaction on one connection; any failure rolls it back whole. */
  private async transaction<T>(what: string, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await checkout(this.pool);
    } catch (err) {
      throw auditPgError(err, what);
    }
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      c.release();
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      c.release(true); // the connection may be broken: never hand it out again
      throw auditPgError(err, what);
    }
  }

  async state(): Promise<AuditState> {
    const [row] = await this.query<AuditState>('read', 'SELECT position, chain FROM audit_checkpoint WHERE id = 1', []);
    return row ?? { position: -1, chain: GENESIS_CHAIN };
  }

  async applyBatch(events: readonly RecordedEvent[]): Promise<AuditState> {
    const { state, written } = await this.transaction('write', (c) =>
      applyBatchIn(c, events, this.gapFree, this.keyWorkspaces),
    );
    // Fresh statistics once the tables have grown a lot (a catch-up), so the planner picks the indexes; autovacuum
    // would get there too, but only a minute or so later.
    this.unanalyzed += written;
    if (this.unanalyzed >= Math.max(ANALYZE_AFTER, this.analyzed)) {
      this.analyzed += this.unanalyzed;
      this.unanalyzed = 0;
      await this.query('analyze', `ANALYZE ${PG_AUDIT_TABLES.join(', ')}`, []);
    }
    return state;
  }

  /** One transaction: readers see the old tables until the new ones are complete, and a live writer waits its turn. */
  async rebuild(batches: AsyncIterable<readonly RecordedEvent[]>): Promise<AuditState> {
    const out = await this.transaction('rebuild', async (c) => {
      await lockCheckpoint(c);
      await c.query(`TRUNCATE ${PG_AUDIT_TABLES.join(', ')}`);
      await c.query('UPDATE audit_checkpoint SET position = -1, chain = $1, ms_hw = 0, ms_skew = 0 WHERE id = 1', [
        GENESIS_CHAIN,
      ]);
      let state: AuditState = { position: -1, chain: GENESIS_CHAIN };
      const known = new KeyWorkspaces(); // the tables are rebuilt from whatever log is given: nothing carried over
      for await (const b of batches) state = (await applyBatchIn(c, b, false, known)).state;
      return state;
    });
    await this.query('analyze', `ANALYZE ${PG_AUDIT_TABLES.join(', ')}`, []);
    return out;
  }

  async rows(q: RowQuery): Promise<AuditRow[]> {
    const where = auditWhere(q.filters, q.scope, 'postgres');
    const p = new Params('postgres', where.params.length + 1);
    const parts = [where.sql];
    if (q.keyIds !== undefined) parts.push(`key_id = ANY(${p.add(q.keyIds.map((k) => toPgText(k)!))}::text[])`);
    if (q.after !== undefined) parts.push(`position > ${p.add(q.after)}`);
    if (q.before !== undefined) parts.push(`position < ${p.add(q.before)}`);
    if (q.upTo !== undefined) parts.push(`position <= ${p.add(q.upTo)}`);
    const limit = q.limit === undefined ? '' : ` LIMIT ${p.add(q.limit)}`;
    const rows = await this.query<Record<string, unknown>>(
      'query',
      `SELECT ${ROW} FROM audit_events WHERE ${parts.join(' AND ')} ORDER BY position ${q.order === 'desc' ? 'DESC' : 'ASC'}${limit}`,
      [...where.params, ...p.values],
    );
    return rows.map(decodeRow);
  }

  /**
   * A page of records, rendered here from the stored lines: JSONL is the lines as stored; CSV is csvLine over the
   * derived cells and the event cut from the line (the renderer SQLite's own pages are checked against). Joining
   * rows in JS outran string_agg in PostgreSQL by more than twice (and left the database less to do).
   */
  async recordPage(q: PageQuery): Promise<RecordPage | null> {
    const where = auditWhere(q.filters, q.scope, 'postgres');
    const p = new Params('postgres', where.params.length + 1);
    const range = `FROM audit_events WHERE (${where.sql}) AND position > ${p.add(q.after)} AND position <= ${p.add(q.upTo)} ORDER BY position LIMIT ${q.limit}`;
    const columns = q.format === 'jsonl' ? 'position, line' : `${CSV_COLUMNS.slice(0, -3).join(', ')}, line`;
    const rows = await this.query<Cell[]>(
      'export',
      `SELECT ${columns} ${range}`,
      [...where.params, ...p.values],
      'array',
    );
    const first = rows[0]?.[0];
    const last = rows[rows.length - 1]?.[0];
    if (typeof first !== 'number' || typeof last !== 'number') return null;
    if (q.format === 'jsonl')
      return { count: rows.length, first, last, chunk: Buffer.from(rows.map((r) => r[1] as string).join(''), 'utf8') };
    const out = new PageBuffer();
    for (const row of rows) out.add(csvLine(csvCells(row)));
    return { count: rows.length, first, last, chunk: out.take() };
  }

  async keyLink(keyId: string): Promise<KeyLink> {
    const [r] = await this.query<{ rotated_from: string | null; next: string | null }>(
      'query',
      `SELECT (SELECT rotated_from FROM audit_keys WHERE key_id = $1) AS rotated_from,
              COALESCE((SELECT successor_id FROM audit_keys WHERE key_id = $1),
                       (SELECT key_id FROM audit_keys WHERE rotated_from = $1 ORDER BY created_ms, key_id LIMIT 1)) AS next`,
      [toPgText(keyId)],
    );
    return { rotatedFrom: fromPgText(r?.rotated_from ?? null), next: fromPgText(r?.next ?? null) };
  }

  async keysValidAt(workspaceId: string, at: number): Promise<ValidKey[]> {
    // Owners first (a workspace has few members, and many keys each): who was an active member at `at`.
    const rows = await this.query<[string, string, string | null, string, string, string, string | null]>(
      'query',
      `WITH owners AS (
         SELECT m.user_id FROM audit_membership m
         WHERE m.workspace_id = $1 AND m.from_ms <= $2 AND m.to_ms > $2
           AND NOT EXISTS (SELECT 1 FROM audit_user_inactive i WHERE i.user_id = m.user_id AND i.from_ms <= $2 AND i.to_ms > $2))
       SELECT k.key_id, k.name, k.handle, k.user_id, k.start, k.created_at, k.expires_at FROM audit_keys k
       WHERE k.workspace_id = $1 AND k.created_ms <= $2 AND k.end_ms > $2 AND k.user_id IN (SELECT user_id FROM owners)
       ORDER BY k.created_ms, k.key_id`,
      [toPgText(workspaceId), at],
      'array',
    );
    return rows.map(([id, name, handle, userId, start, createdAt, expiresAt]) => ({
      id: fromPgText(id),
      name: fromPgText(name),
      handle: fromPgText(handle),
      userId: fromPgText(userId),
      start: fromPgText(start),
      createdAt: fromPgText(createdAt),
      expiresAt: fromPgText(expiresAt),
    }));
  }

  async nthAfter(after: number, n: number): Promise<AuditState | null> {
    const [row] = await this.query<AuditState>(
      'query',
      'SELECT position, chain FROM audit_events WHERE position > $1 AND type <> $2 ORDER BY position LIMIT 1 OFFSET $3',
      [after, CHECKPOINT_TYPE, n - 1],
    );
    return row ?? null;
  }

  async witnessRows(after: number, upTo: number, limit: number): Promise<WitnessRow[]> {
    const rows = await this.query<WitnessRow>(
      'read',
      'SELECT position, event_id, chain FROM audit_events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3',
      [after, upTo, limit],
    );
    return rows.map((r) => ({ ...r, event_id: fromPgText(r.event_id) }));
  }

  async positionOf(eventId: string): Promise<number | null> {
    const [row] = await this.query<{ position: number }>(
      'read',
      'SELECT position FROM audit_events WHERE event_id = $1',
      [toPgText(eventId)],
    );
    return row?.position ?? null;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
