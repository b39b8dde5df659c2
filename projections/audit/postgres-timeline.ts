// The timeline tables on PostgreSQL, kept in the batch's transaction: load the rows the batch touches, fold the batch
// (timeline-fold.ts, the rules of timeline.ts), write back with one statement per table and kind of change.
import type pg from 'pg';
import type { AuditRow } from './row.js';
import { FOREVER, fromPgText, toPgText } from './postgres-schema.js';
import { TimelineFold, memberKey, memberOf, touched, type KeyRecord, type Spells } from './timeline-fold.js';
import type { Data } from './timeline.js';

const KEY_COLUMNS = [
  'key_id',
  'workspace_id',
  'user_id',
  'name',
  'handle',
  'start',
  'created_ms',
  'created_at',
  'expires_ms',
  'expires_at',
  'grace_end_ms',
  'revoked_ms',
  'expired_ms',
  'end_ms',
  'rotated_from',
  'successor_id',
] as const satisfies ReadonlyArray<keyof KeyRecord>;

const KEY_TEXT = new Set<string>(['key_id', 'workspace_id', 'user_id', 'name', 'handle', 'start', 'created_at']);
const KEY_TEXT_NULL = new Set<string>(['expires_at', 'rotated_from', 'successor_id']);
const typeOf = (c: string): string => (KEY_TEXT.has(c) || KEY_TEXT_NULL.has(c) ? 'text' : 'bigint');

const enc = (xs: Iterable<string>): Array<string | null> => [...xs].map(toPgText);

async function loadKeys(c: pg.ClientBase, ids: Set<string>): Promise<Map<string, KeyRecord>> {
  const out = new Map<string, KeyRecord>();
  if (ids.size === 0) return out;
  const r = await c.query<KeyRecord>(
    `SELECT ${KEY_COLUMNS.join(', ')} FROM audit_keys WHERE key_id = ANY($1::text[])`,
    [enc(ids)],
  );
  for (const row of r.rows) {
    for (const col of KEY_COLUMNS)
      if (typeOf(col) === 'text') (row as unknown as Record<string, unknown>)[col] = fromPgText(row[col] as string);
    out.set(row.key_id, row);
  }
  return out;
}

function spells(subjects: Iterable<string>, storedOpen: Set<string>): Map<string, Spells> {
  return new Map([...subjects].map((s) => [s, { storedOpen: storedOpen.has(s), closedAt: null, added: [] }]));
}

async function loadUsers(c: pg.ClientBase, users: Set<string>): Promise<Map<string, Spells>> {
  if (users.size === 0) return new Map();
  const r = await c.query<{ user_id: string }>(
    `SELECT user_id FROM audit_user_inactive WHERE user_id = ANY($1::text[]) AND to_ms = ${FOREVER}`,
    [enc(users)],
  );
  return spells(users, new Set(r.rows.map((x) => fromPgText(x.user_id))));
}

async function loadMembers(c: pg.ClientBase, members: Set<string>): Promise<Map<string, Spells>> {
  if (members.size === 0) return new Map();
  const pairs = [...members].map(memberOf);
  const r = await c.query<{ workspace_id: string; user_id: string }>(
    `SELECT m.workspace_id, m.user_id FROM audit_membership m
     JOIN unnest($1::text[], $2::text[]) AS v(ws, u) ON m.workspace_id = v.ws AND m.user_id = v.u
     WHERE m.to_ms = ${FOREVER}`,
    [pairs.map((p) => toPgText(p[0])), pairs.map((p) => toPgText(p[1]))],
  );
  return spells(members, new Set(r.rows.map((x) => memberKey(fromPgText(x.workspace_id), fromPgText(x.user_id)))));
}

async function writeKeys(c: pg.ClientBase, fold: TimelineFold): Promise<void> {
  if (fold.changed.size === 0) return;
  const rows = [...fold.changed].map((id) => fold.keys.get(id)!);
  const arrays = KEY_COLUMNS.map((col) =>
    rows.map((r) => (typeOf(col) === 'text' ? toPgText(r[col] as string | null) : r[col])),
  );
  const cols = KEY_COLUMNS.join(', ');
  await c.query(
    `INSERT INTO audit_keys (${cols}) SELECT * FROM unnest(${KEY_COLUMNS.map((col, i) => `$${i + 1}::${typeOf(col)}[]`).join(', ')})
     ON CONFLICT (key_id) DO UPDATE SET ${KEY_COLUMNS.slice(1)
       .map((col) => `${col} = EXCLUDED.${col}`)
       .join(', ')}`,
    arrays,
  );
}

/**
 * Closes the stored open intervals the batch closed, then inserts the ones it opened (in this order, so a new open
 * interval is never taken for the stored one). `parts` splits a map key into the table's subject columns.
 */
async function writeSpells(
  c: pg.ClientBase,
  table: 'audit_user_inactive' | 'audit_membership',
  subjectColumns: readonly string[],
  parts: (key: string) => readonly string[],
  all: Map<string, Spells>,
): Promise<void> {
  const closed = [...all].filter(([, s]) => s.closedAt !== null);
  if (closed.length > 0) {
    const cols = subjectColumns.map((_, i) => `$${i + 1}::text[]`).join(', ');
    const match = subjectColumns.map((col) => `t.${col} = v.${col}`).join(' AND ');
    await c.query(
      `UPDATE ${table} t SET to_ms = v.to_ms FROM unnest(${cols}, $${subjectColumns.length + 1}::bigint[]) AS v(${subjectColumns.join(', ')}, to_ms)
       WHERE ${match} AND t.to_ms = ${FOREVER}`,
      [...subjectColumns.map((_, i) => closed.map(([k]) => toPgText(parts(k)[i]!))), closed.map(([, s]) => s.closedAt)],
    );
  }
  const added = [...all].flatMap(([k, s]) => s.added.map((i) => ({ k, ...i })));
  if (added.length === 0) return;
  const n = subjectColumns.length;
  await c.query(
    `INSERT INTO ${table} (${subjectColumns.join(', ')}, from_ms, to_ms)
     SELECT * FROM unnest(${subjectColumns.map((_, i) => `$${i + 1}::text[]`).join(', ')}, $${n + 1}::bigint[], $${n + 2}::bigint[])`,
    [
      ...subjectColumns.map((_, i) => added.map((a) => toPgText(parts(a.k)[i]!))),
      added.map((a) => a.from),
      added.map((a) => a.to),
    ],
  );
}

/** Applies the timeline part of a batch of freshly inserted rows (with their events' data), inside its transaction. */
export async function applyTimeline(
  c: pg.ClientBase,
  batch: ReadonlyArray<{ row: AuditRow; data: Data }>,
): Promise<void> {
  const t = touched(batch);
  if (t.keys.size === 0 && t.users.size === 0 && t.members.size === 0) return;
  const fold = new TimelineFold(
    await loadKeys(c, t.keys),
    await loadUsers(c, t.users),
    await loadMembers(c, t.members),
  );
  for (const { row, data } of batch) fold.apply(row, data);
  await writeKeys(c, fold);
  await writeSpells(c, 'audit_user_inactive', ['user_id'], (k) => [k], fold.users);
  await writeSpells(c, 'audit_membership', ['workspace_id', 'user_id'], memberOf, fold.members);
}
