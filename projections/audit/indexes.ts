// The audit table's indexes, one list for both dialects (SQLite and PostgreSQL accept the same DDL).
export const AUDIT_INDEXES = `
CREATE INDEX IF NOT EXISTS audit_by_key ON audit_events (key_id, position) WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_user ON audit_events (user_id, position) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_about_ws ON audit_events (about_ws, position) WHERE about_ws IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_ws_type ON audit_events (about_ws, type, position) WHERE about_ws IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_events (actor_id, position);
CREATE INDEX IF NOT EXISTS audit_by_type ON audit_events (type, position);
CREATE INDEX IF NOT EXISTS audit_by_digest ON audit_events (token_digest) WHERE token_digest IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_hw ON audit_events (ms_hw, position);
`;

/**
 * The names of the indexes a DDL text creates. Each is one a long catch-up may build after its rows instead of row by
 * row: one sort per index instead of a random B-tree insert per row (the writer keeps each key's workspace in memory
 * meanwhile, what audit_by_key answers).
 */
export function indexNames(ddl: string): string[] {
  return [...ddl.matchAll(/CREATE INDEX IF NOT EXISTS (\w+)/g)].map((m) => m[1]!);
}
