// Derived timelines kept beside audit_events: each key's validity window, each user's inactive spells and each
// membership's intervals, so "which keys would have verified at T" is one indexed query instead of a replay.
import type Database from 'better-sqlite3';
import type { RecordedEvent } from '../../events/store/types.js';
import type { AuditExtension, AuditRow } from './audit-db.js';

/** Open end of an interval: the largest instant a JS Date can hold, so plain comparisons work. */
export const FOREVER_MS = 8_640_000_000_000_000;

/** Bumped when the derived tables change shape or meaning: they are rebuilt from audit_events at open. */
const TIMELINE_VERSION = '2';

const TABLES = ['audit_keys', 'audit_user_inactive', 'audit_membership'] as const;

const DDL = `
CREATE TABLE IF NOT EXISTS audit_keys (
  key_id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  handle TEXT,
  start TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  expires_ms INTEGER,
  expires_at TEXT,
  grace_end_ms INTEGER,
  revoked_ms INTEGER,
  expired_ms INTEGER,
  end_ms INTEGER NOT NULL,
  rotated_from TEXT,
  successor_id TEXT
);
CREATE TABLE IF NOT EXISTS audit_user_inactive (user_id TEXT NOT NULL, from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS audit_user_inactive_by_user ON audit_user_inactive (user_id, from_ms, to_ms);
CREATE TABLE IF NOT EXISTS audit_membership (workspace_id TEXT NOT NULL, user_id TEXT NOT NULL, from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS audit_membership_by_member ON audit_membership (workspace_id, user_id, from_ms, to_ms);
`;

/** Read by queries only (the appliers find a key by its primary key), so a long catch-up may build them afterwards. */
const KEY_INDEXES = `
-- Covering, in answer order: validAt reads a workspace's keys from this index alone, already sorted, times already ISO.
CREATE INDEX IF NOT EXISTS audit_keys_valid ON audit_keys (workspace_id, created_ms, key_id, end_ms, user_id, name, handle, start, created_at, expires_at);
CREATE INDEX IF NOT EXISTS audit_keys_by_pred ON audit_keys (rotated_from) WHERE rotated_from IS NOT NULL;
`;

export type Data = Record<string, unknown>;

export const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
export const ms = (v: unknown): number | null => {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? null : t;
};

/** Statements of the timeline tables, applying one event (its flattened row plus its data). */
function appliers(db: Database.Database): (row: AuditRow, data: Data) => void {
  const keyIns = db.prepare(
    `INSERT INTO audit_keys (key_id, workspace_id, user_id, name, handle, start, created_ms, created_at, expires_ms, expires_at, end_ms, rotated_from)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key_id) DO NOTHING`,
  );
  // end_ms is the first of: requested expiry, grace end, revocation, recorded expiry. This is keyPhase's rule
  // (services/domain/key-validity.ts) in SQL; test/integration/key-validity-sql.test.ts checks that they agree.
  const keyEnd = (col: string, extra = ''): Database.Statement =>
    db.prepare(
      `UPDATE audit_keys SET ${col} = COALESCE(${col}, @at)${extra}, end_ms = MIN(end_ms, @at) WHERE key_id = @key`,
    );
  const keyGrace = keyEnd('grace_end_ms', ', successor_id = COALESCE(successor_id, @successor)');
  const keyRevoked = keyEnd('revoked_ms');
  const keyExpired = keyEnd('expired_ms');
  const keyRename = db.prepare('UPDATE audit_keys SET name = ? WHERE key_id = ?');
  const openInactive = db.prepare(
    `INSERT INTO audit_user_inactive (user_id, from_ms, to_ms) SELECT @user, @at, ${FOREVER_MS}
     WHERE NOT EXISTS (SELECT 1 FROM audit_user_inactive WHERE user_id = @user AND to_ms = ${FOREVER_MS})`,
  );
  const closeInactive = db.prepare(
    `UPDATE audit_user_inactive SET to_ms = @at WHERE user_id = @user AND to_ms = ${FOREVER_MS}`,
  );
  const openMember = db.prepare(
    `INSERT INTO audit_membership (workspace_id, user_id, from_ms, to_ms) SELECT @ws, @user, @at, ${FOREVER_MS}
     WHERE NOT EXISTS (SELECT 1 FROM audit_membership WHERE workspace_id = @ws AND user_id = @user AND to_ms = ${FOREVER_MS})`,
  );
  const closeMember = db.prepare(
    `UPDATE audit_membership SET to_ms = @at WHERE workspace_id = @ws AND user_id = @user AND to_ms = ${FOREVER_MS}`,
  );

  return (row, d) => {
    const at = row.occurred_ms;
    switch (row.type) {
      case 'ApiKeyCreated': {
        const key = text(d.keyId);
        const ws = text(d.workspaceId);
        const user = text(d.userId);
        if (key === null || ws === null || user === null) return;
        const expires = ms(d.expiresAt);
        const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
        keyIns.run(
          key,
          ws,
          user,
          text(d.name) ?? '',
          text(d.handle),
          text(d.start) ?? '',
          at,
          iso(at),
          expires,
          iso(expires),
          expires ?? FOREVER_MS,
          text(d.rotatedFrom),
        );
        return;
      }
      case 'ApiKeyRotated':
        keyGrace.run({ key: text(d.keyId), at: ms(d.graceEndsAt) ?? at, successor: text(d.successorId) });
        return;
      case 'ApiKeyRevoked':
        keyRevoked.run({ key: text(d.keyId), at });
        return;
      case 'ApiKeyExpired':
        keyExpired.run({ key: text(d.keyId), at: ms(d.expiredAt) ?? at });
        return;
      case 'ApiKeyUpdated':
        if (typeof d.name === 'string') keyRename.run(d.name, text(d.keyId));
        return;
      case 'UserDeactivated':
        openInactive.run({ user: text(d.userId), at });
        return;
      case 'UserReactivated':
        closeInactive.run({ user: text(d.userId), at });
        return;
      case 'WorkspaceMemberRoleSet':
        openMember.run({ ws: text(d.workspaceId), user: text(d.userId), at });
        return;
      case 'WorkspaceMemberRemoved':
        closeMember.run({ ws: text(d.workspaceId), user: text(d.userId), at });
        return;
      default:
        return;
    }
  };
}

function timelineVersion(db: Database.Database): string | undefined {
  return (db.prepare("SELECT value FROM audit_meta WHERE name = 'timeline'").get() as { value: string } | undefined)
    ?.value;
}

/** An audit.db written before these tables existed (or by an older version) gets them rebuilt from its rows. */
function backfill(db: Database.Database, apply: (row: AuditRow, data: Data) => void): void {
  db.transaction(() => {
    for (const t of TABLES) db.exec(`DELETE FROM ${t}`);
    // Paged with all(): better-sqlite3 refuses writes on a connection while an iterator is open.
    const page = db.prepare(
      `SELECT * FROM audit_events WHERE position > ? AND type IN ('ApiKeyCreated','ApiKeyRotated','ApiKeyRevoked','ApiKeyExpired',
        'ApiKeyUpdated','UserDeactivated','UserReactivated','WorkspaceMemberRoleSet','WorkspaceMemberRemoved') ORDER BY position LIMIT 5000`,
    );
    for (let after = -1; ;) {
      const rows = page.all(after) as AuditRow[];
      for (const row of rows) apply(row, (JSON.parse(row.event) as { data?: Data }).data ?? {});
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.position;
    }
    db.prepare(
      "INSERT INTO audit_meta (name, value) VALUES ('timeline', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    ).run(TIMELINE_VERSION);
  })();
}

export const timelineExtension: AuditExtension = {
  name: 'timeline',
  tables: TABLES,
  deferrableIndexes: KEY_INDEXES,
  prepare(db) {
    // Tables of another version may lack columns: drop them before creating today's and filling them from audit_events.
    const outdated = timelineVersion(db) !== TIMELINE_VERSION;
    if (outdated) for (const t of TABLES) db.exec(`DROP TABLE IF EXISTS ${t}`);
    db.exec(DDL + KEY_INDEXES);
    const apply = appliers(db);
    if (outdated) backfill(db, apply);
    return (row: AuditRow, e: RecordedEvent) => apply(row, (e.data ?? {}) as Data);
  },
};

export const auditExtensions: AuditExtension[] = [timelineExtension];
