// The audit read model's SQLite file: every ledger event flattened into queryable columns, with its chain value.
// It never holds a secret: sealed tokens and password hashes are replaced by their digest (events/chain.ts).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { GENESIS_CHAIN, canonicalJson, nextChain, redactSecrets } from '../../events/chain.js';
import type { RecordedEvent } from '../../events/store/types.js';

export const AUDIT_SCHEMA_VERSION = 1;

/** One row of audit_events, as the query, history and export code read it. */
export interface AuditRow {
  readonly position: number;
  readonly event_id: string;
  readonly stream_id: string;
  readonly revision: number;
  readonly type: string;
  readonly occurred_at: string;
  readonly occurred_ms: number;
  readonly key_id: string | null;
  readonly user_id: string | null;
  readonly workspace_id: string | null;
  readonly actor_type: string | null;
  readonly actor_id: string | null;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly request_id: string | null;
  readonly scheme: string | null;
  readonly token_digest: string | null;
  readonly prev_chain: string;
  readonly chain: string;
  /** canonicalJson({id, streamId, revision, position, type, data, metadata}) with secrets redacted. */
  readonly event: string;
}

const DDL = `
CREATE TABLE IF NOT EXISTS audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_events (
  position INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  stream_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  type TEXT NOT NULL,
  occurred_at TEXT NOT NULL,
  occurred_ms INTEGER NOT NULL,
  key_id TEXT,
  user_id TEXT,
  workspace_id TEXT,
  actor_type TEXT,
  actor_id TEXT,
  ip TEXT,
  user_agent TEXT,
  request_id TEXT,
  scheme TEXT,
  token_digest TEXT,
  prev_chain TEXT NOT NULL,
  chain TEXT NOT NULL,
  event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_key ON audit_events (key_id, position) WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_user ON audit_events (user_id, position) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_ws ON audit_events (workspace_id, position) WHERE workspace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_events (actor_id, position);
CREATE INDEX IF NOT EXISTS audit_by_type ON audit_events (type, position);
CREATE INDEX IF NOT EXISTS audit_by_digest ON audit_events (token_digest) WHERE token_digest IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_events (occurred_ms, position);
`;

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** The key a given event is about, and the digest it carries (ApiKeyCreated only). */
function keyColumns(type: string, data: Record<string, unknown>): { keyId: string | null; digest: string | null } {
  if (!type.startsWith('ApiKey')) return { keyId: null, digest: null };
  return { keyId: str(data.keyId), digest: type === 'ApiKeyCreated' ? str(data.digest) : null };
}

/** Flattens one recorded event into a row, given the previous chain value. Pure. */
export function flatten(e: RecordedEvent, prevChain: string): AuditRow {
  const data = (e.data ?? {}) as Record<string, unknown>;
  const meta = (e.metadata ?? {}) as Record<string, unknown>;
  const actor = (meta.actor ?? {}) as Record<string, unknown>;
  const request = (meta.request ?? {}) as Record<string, unknown>;
  const occurredAt = str(meta.occurredAt) ?? new Date(0).toISOString();
  const { keyId, digest } = keyColumns(e.type, data);
  const userId = str(data.userId) ?? (e.type === 'WorkspaceCreated' ? str(data.ownerId) : null);
  return {
    position: e.position,
    event_id: e.id,
    stream_id: e.streamId,
    revision: e.revision,
    type: e.type,
    occurred_at: occurredAt,
    occurred_ms: Date.parse(occurredAt) || 0,
    key_id: keyId,
    user_id: userId,
    workspace_id: str(data.workspaceId),
    actor_type: str(actor.type),
    actor_id: str(actor.id),
    ip: str(request.ip),
    user_agent: str(request.userAgent),
    request_id: str(request.requestId),
    scheme: e.type === 'ApiKeyUsed' ? str(data.presentation) : null,
    token_digest: digest,
    prev_chain: prevChain,
    chain: nextChain(prevChain, e),
    event: canonicalJson({
      id: e.id,
      streamId: e.streamId,
      revision: e.revision,
      position: e.position,
      type: e.type,
      data: redactSecrets(e.data),
      metadata: redactSecrets(e.metadata),
    }),
  };
}

/** A derived table kept in the same transaction as audit_events (e.g. key and membership timelines). */
export interface AuditExtension {
  readonly name: string;
  /** CREATE TABLE IF NOT EXISTS … ; run at open. */
  readonly ddl: string;
  /** Tables to drop on rebuild. */
  readonly tables: readonly string[];
  /** Called once per event, inside the batch transaction, after its audit_events row is inserted. */
  prepare(db: Database.Database): (row: AuditRow, e: RecordedEvent) => void;
}

export interface AuditState {
  readonly position: number;
  readonly chain: string;
}

export class AuditDb {
  readonly db: Database.Database;
  private readonly insertRow: Database.Statement;
  private readonly setMeta: Database.Statement<[string, string]>;
  private appliers: Array<(row: AuditRow, e: RecordedEvent) => void> = [];
  private state: AuditState;
  private readonly applyBatchTx: (events: readonly RecordedEvent[]) => void;

  constructor(
    readonly file: string,
    private readonly extensions: readonly AuditExtension[] = [],
    opts: { readonly?: boolean } = {},
  ) {
    if (!opts.readonly) mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file, opts.readonly ? { readonly: true, fileMustExist: true } : {});
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      // The audit model is rebuildable from the ledger, so NORMAL durability is enough here.
      this.db.pragma('synchronous = NORMAL');
    }
    this.db.pragma('busy_timeout = 5000');
    if (!opts.readonly) this.migrate();
    this.insertRow = this.db.prepare(
      `INSERT INTO audit_events (position, event_id, stream_id, revision, type, occurred_at, occurred_ms, key_id, user_id, workspace_id,
        actor_type, actor_id, ip, user_agent, request_id, scheme, token_digest, prev_chain, chain, event)
       VALUES (@position, @event_id, @stream_id, @revision, @type, @occurred_at, @occurred_ms, @key_id, @user_id, @workspace_id,
        @actor_type, @actor_id, @ip, @user_agent, @request_id, @scheme, @token_digest, @prev_chain, @chain, @event)
       ON CONFLICT(position) DO NOTHING`,
    );
    this.setMeta = this.db.prepare('INSERT INTO audit_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
    this.state = this.readState();
    this.applyBatchTx = this.db.transaction((events: readonly RecordedEvent[]) => {
      let { position, chain } = this.state;
      for (const e of events) {
        if (e.position <= position) continue; // replayed: idempotent
        const row = flatten(e, chain);
        this.insertRow.run(row);
        for (const apply of this.appliers) apply(row, e);
        position = e.position;
        chain = row.chain;
      }
      this.setMeta.run('position', String(position));
      this.setMeta.run('chain', chain);
      this.state = { position, chain };
    });
  }

  private migrate(): void {
    this.db.exec(DDL);
    for (const x of this.extensions) this.db.exec(x.ddl);
    this.db.prepare("INSERT INTO audit_meta (name, value) VALUES ('schema', ?) ON CONFLICT(name) DO NOTHING").run(String(AUDIT_SCHEMA_VERSION));
    this.appliers = this.extensions.map((x) => x.prepare(this.db));
  }

  private readState(): AuditState {
    const get = (name: string): string | undefined =>
      (this.db.prepare('SELECT value FROM audit_meta WHERE name = ?').get(name) as { value: string } | undefined)?.value;
    return { position: Number(get('position') ?? -1), chain: get('chain') ?? GENESIS_CHAIN };
  }

  /** Last applied ledger position and the chain value there (the checkpoint). */
  get checkpoint(): AuditState {
    return this.state;
  }

  /** Applies events in order, in one transaction, advancing the checkpoint with them. */
  applyBatch(events: readonly RecordedEvent[]): void {
    if (events.length > 0) this.applyBatchTx(events);
  }

  /** Drops every table and starts from the genesis chain. */
  reset(): void {
    this.db.exec('DROP TABLE IF EXISTS audit_events; DROP TABLE IF EXISTS audit_meta;');
    for (const x of this.extensions) for (const t of x.tables) this.db.exec(`DROP TABLE IF EXISTS "${t}"`);
    this.migrate();
    this.state = { position: -1, chain: GENESIS_CHAIN };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
