// The audit tables in the ledger's PostgreSQL database: created or migrated on start, one instance at a time. Text
// columns use the "C" collation, so comparisons and ORDER BY agree with SQLite's byte order.
import pg from 'pg';
import { pgError } from '../../events/store/pg-errors.js';
import { GENESIS_CHAIN } from '../../events/chain.js';
import { StoreUnavailableError, type LedgerError } from '../../events/errors.js';
import { FOREVER_MS } from './timeline.js';
import { AUDIT_INDEXES } from './indexes.js';

export const PG_AUDIT_SCHEMA_VERSION = 1;
/** Serializes migrations of instances starting together (an advisory lock of its own, apart from the append lock). */
const MIGRATE_LOCK = 7_202_612_101;

const T = 'TEXT COLLATE "C"';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS audit_meta (name ${T} PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS audit_checkpoint (
     id SMALLINT PRIMARY KEY CHECK (id = 1),
     position BIGINT NOT NULL,
     chain TEXT NOT NULL,
     ms_hw BIGINT NOT NULL,
     ms_skew BIGINT NOT NULL);
   INSERT INTO audit_checkpoint VALUES (1, -1, '${GENESIS_CHAIN}', 0, 0) ON CONFLICT (id) DO NOTHING;
   CREATE TABLE IF NOT EXISTS audit_events (
     position BIGINT PRIMARY KEY,
     event_id ${T} NOT NULL UNIQUE,
     stream_id ${T} NOT NULL,
     revision INTEGER NOT NULL,
     type ${T} NOT NULL,
     occurred_at ${T} NOT NULL,
     occurred_ms BIGINT NOT NULL,
     ms_hw BIGINT NOT NULL,
     key_id ${T}, user_id ${T}, workspace_id ${T}, about_ws ${T},
     actor_type ${T}, actor_id ${T}, ip ${T}, user_agent ${T}, request_id ${T}, scheme ${T}, token_digest ${T},
     csv_plain BOOLEAN NOT NULL,
     prev_chain TEXT NOT NULL,
     chain TEXT NOT NULL,
     line TEXT NOT NULL);
   ${AUDIT_INDEXES}
   CREATE TABLE IF NOT EXISTS audit_keys (
     key_id ${T} PRIMARY KEY,
     workspace_id ${T} NOT NULL,
     user_id ${T} NOT NULL,
     name ${T} NOT NULL,
     handle ${T},
     start ${T} NOT NULL,
     created_ms BIGINT NOT NULL,
     created_at ${T} NOT NULL,
     expires_ms BIGINT,
     expires_at ${T},
     grace_end_ms BIGINT,
     revoked_ms BIGINT,
     expired_ms BIGINT,
     end_ms BIGINT NOT NULL,
     rotated_from ${T},
     successor_id ${T});
   CREATE INDEX IF NOT EXISTS audit_keys_valid ON audit_keys (workspace_id, created_ms, key_id)
     INCLUDE (end_ms, user_id, name, handle, start, created_at, expires_at);
   CREATE INDEX IF NOT EXISTS audit_keys_by_pred ON audit_keys (rotated_from, created_ms) WHERE rotated_from IS NOT NULL;
   CREATE TABLE IF NOT EXISTS audit_user_inactive (user_id ${T} NOT NULL, from_ms BIGINT NOT NULL, to_ms BIGINT NOT NULL);
   CREATE INDEX IF NOT EXISTS audit_user_inactive_by_user ON audit_user_inactive (user_id, from_ms, to_ms);
   CREATE TABLE IF NOT EXISTS audit_membership (workspace_id ${T} NOT NULL, user_id ${T} NOT NULL, from_ms BIGINT NOT NULL, to_ms BIGINT NOT NULL);
   CREATE INDEX IF NOT EXISTS audit_membership_by_member ON audit_membership (workspace_id, user_id, from_ms, to_ms);`,
];

/** Every table a rebuild empties. */
export const PG_AUDIT_TABLES = ['audit_events', 'audit_keys', 'audit_user_inactive', 'audit_membership'] as const;

/** The open end of an interval, as SQL. */
export const FOREVER = String(FOREVER_MS);

/** Creates the tables, or brings them to this build's version; a newer version than this build knows stops the start. */
export async function migrateAudit(c: pg.ClientBase): Promise<void> {
  await c.query('BEGIN');
  try {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    const exists = await c.query<{ t: string | null }>("SELECT to_regclass('audit_meta')::text AS t");
    const from =
      exists.rows[0]?.t === null
        ? 0
        : Number(
            (await c.query<{ value: string }>("SELECT value FROM audit_meta WHERE name = 'schema'")).rows[0]?.value ??
              0,
          );
    if (from > PG_AUDIT_SCHEMA_VERSION)
      throw new StoreUnavailableError(
        `the audit tables are version ${from}; this build knows ${PG_AUDIT_SCHEMA_VERSION}`,
        null,
        false,
      );
    for (let v = from; v < PG_AUDIT_SCHEMA_VERSION; v++) await c.query(MIGRATIONS[v]!);
    await c.query(
      "INSERT INTO audit_meta (name, value) VALUES ('schema', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
      [String(PG_AUDIT_SCHEMA_VERSION)],
    );
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** int8 (positions, milliseconds) as JS numbers: every value here is below 2^53. Local to this pool, not global. */
export const AUDIT_TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** A driver error as the ledger's coded error, saying whether trying again may help. */
export function auditPgError(err: unknown, what: string): LedgerError {
  return pgError(err, `audit ${what}`);
}

/**
 * PostgreSQL text cannot hold U+0000, which an event's strings may (a key named "a\u0000b"). Such a value, or one that
 * starts with the marker U+0001, is stored as the marker plus its JSON; everything else as is. Lossless, and filter
 * values (ids, which never hold either character) never match an encoded value, as they would not match it on SQLite.
 */
const MARK = '\u0001';

export function toPgText(s: string | null): string | null {
  if (s === null || (!s.includes('\0') && !s.startsWith(MARK))) return s;
  return MARK + JSON.stringify(s);
}

export function fromPgText<T extends string | null>(s: T): T {
  return (s !== null && s.charCodeAt(0) === 1 ? JSON.parse(s.slice(1)) : s) as T;
}
