// The one WHERE clause for the audit filters and the caller's scope, in either adapter's SQL (SQLite or PostgreSQL):
// the listing, the export and both stores select the same rows because they all build it here.

export interface AuditFilters {
  readonly keyId?: string;
  readonly userId?: string;
  readonly workspaceId?: string;
  readonly actorId?: string;
  readonly type?: readonly string[];
  readonly tokenDigest?: string;
  /** Inclusive lower bound on occurredAt, ISO. */
  readonly from?: string;
  /** Exclusive upper bound on occurredAt, ISO. */
  readonly to?: string;
}

export type Dialect = 'sqlite' | 'postgres';

export type SqlValue = string | number | readonly string[];

export interface Where {
  /** No leading WHERE; "1=1" when nothing is filtered. */
  readonly sql: string;
  readonly params: SqlValue[];
}

/** Beyond any position: no row has ms_hw that high, so the bound is open. */
const NO_POSITION = Number.MAX_SAFE_INTEGER;
const SKEW: Record<Dialect, string> = {
  sqlite: "COALESCE((SELECT CAST(value AS INTEGER) FROM audit_meta WHERE name = 'ms_skew'), 0)",
  postgres: 'COALESCE((SELECT ms_skew FROM audit_checkpoint WHERE id = 1), 0)',
};

/** No filter and no scope: every event of the ledger, so consecutive records link chain to chain. */
export function selectsEverything(f: AuditFilters, scope: readonly string[] | null): boolean {
  return scope === null && Object.values(f).every((v) => v === undefined);
}

/** Collects parameters and names their placeholders: `?` for SQLite, `$n` for PostgreSQL (numbered from `first`). */
export class Params {
  readonly values: SqlValue[] = [];
  constructor(
    private readonly dialect: Dialect,
    private readonly first = 1,
  ) {}

  add(v: SqlValue): string {
    this.values.push(v);
    return this.dialect === 'sqlite' ? '?' : `$${this.first + this.values.length - 1}`;
  }

  /** `col = x` for one value, else `col IN (…)` (SQLite) or `col = ANY($n)` (PostgreSQL). */
  oneOf(column: string, values: readonly string[]): string {
    if (values.length === 1) return `${column} = ${this.add(values[0]!)}`;
    if (this.dialect === 'postgres') return `${column} = ANY(${this.add(values)}::text[])`;
    return `${column} IN (${values.map((v) => this.add(v)).join(', ')})`;
  }
}

/**
 * WHERE clause over audit_events and its parameters: the one place the listing and the export turn filters and the
 * caller's scope into SQL, so they always select the same rows.
 * - workspaceId and `scope` match about_ws: the event's own workspace, or for key events (which carry only keyId) the
 *   workspace the key was created in. `scope` null means no restriction (a system admin on a session).
 * - A token digest matches the key created with it, so the clause finds every event of that key.
 * PostgreSQL placeholders are numbered from $1: put the clause's parameters first.
 */
export function auditWhere(
  f: AuditFilters,
  scope: readonly string[] | null = null,
  dialect: Dialect = 'sqlite',
): Where {
  const p = new Params(dialect);
  const sqlite = dialect === 'sqlite';
  const hint = (index: string): string => (sqlite ? ` INDEXED BY ${index}` : '');
  const parts: string[] = [];
  if (f.keyId !== undefined) parts.push(`key_id = ${p.add(f.keyId)}`);
  if (f.userId !== undefined) parts.push(`user_id = ${p.add(f.userId)}`);
  if (f.workspaceId !== undefined) parts.push(`about_ws = ${p.add(f.workspaceId)}`);
  // A workspaceId inside the scope already implies it (the routes refuse one outside it).
  if (scope !== null && !(f.workspaceId !== undefined && scope.includes(f.workspaceId)))
    parts.push(p.oneOf('about_ws', scope));
  if (f.actorId !== undefined) parts.push(`actor_id = ${p.add(f.actorId)}`);
  if (f.type !== undefined && f.type.length > 0) parts.push(p.oneOf('type', f.type));
  // Only ApiKeyCreated rows carry a digest; INDEXED BY keeps this a single index probe on SQLite.
  if (f.tokenDigest !== undefined)
    parts.push(
      `key_id = (SELECT key_id FROM audit_events${hint('audit_by_digest')} WHERE token_digest = ${p.add(f.tokenDigest)} LIMIT 1)`,
    );
  // Time filters also bound the position, so they narrow the scan instead of sorting a whole time range: ms_hw (the
  // running max of occurred_ms) never decreases along the log, and no event's time lags an earlier one's by more than
  // ms_skew, so every match sits at or after the first row with ms_hw ≥ from, and before the first with ms_hw ≥ to + skew.
  const firstAtHw = (bound: string): string =>
    `COALESCE((SELECT position FROM audit_events${hint('audit_by_hw')} WHERE ms_hw >= ${bound} ORDER BY ms_hw, position LIMIT 1), ${NO_POSITION})`;
  if (f.from !== undefined) {
    const from = Date.parse(f.from);
    parts.push(`occurred_ms >= ${p.add(from)}`, `position >= ${firstAtHw(p.add(from))}`);
  }
  if (f.to !== undefined) {
    const to = Date.parse(f.to);
    parts.push(`occurred_ms < ${p.add(to)}`, `position < ${firstAtHw(`${p.add(to)} + ${SKEW[dialect]}`)}`);
  }
  return { sql: parts.length === 0 ? '1=1' : parts.join(' AND '), params: p.values };
}
