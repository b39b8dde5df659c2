// The audit storage port: where the audit read model lives (audit.db in the data folder, or tables in the ledger's
// PostgreSQL database shared by every instance). One writer applies events; any number of readers query.
import type { RecordedEvent, Subscription } from '../../events/store/types.js';
import type { AuditRow } from './row.js';
import type { AuditFilters } from './where.js';

export interface AuditState {
  /** Last ledger position applied (-1: none). */
  readonly position: number;
  /** The hash-chain value after it. */
  readonly chain: string;
}

/** Rows matching the filters and scope (as auditWhere reads them) within a position range, in position order. */
export interface RowQuery {
  readonly filters: AuditFilters;
  /** null: every event; otherwise only events about these workspaces. */
  readonly scope: readonly string[] | null;
  /** Only events of these keys (a rotation lineage's history). */
  readonly keyIds?: readonly string[];
  /** position > after */
  readonly after?: number;
  /** position < before */
  readonly before?: number;
  /** position ≤ upTo */
  readonly upTo?: number;
  readonly order: 'asc' | 'desc';
  /** Most rows to return (none: all). */
  readonly limit?: number;
}

export type RecordFormat = 'jsonl' | 'csv';

/** One page of export records: oldest first, at most `limit` of them, after `after` and at or before `upTo`. */
export interface PageQuery {
  readonly filters: AuditFilters;
  readonly scope: readonly string[] | null;
  readonly format: RecordFormat;
  readonly after: number;
  readonly upTo: number;
  readonly limit: number;
}

/** How many records, the first and last position, and their bytes exactly as an export writes them. */
export interface RecordPage {
  readonly count: number;
  readonly first: number;
  readonly last: number;
  readonly chunk: Buffer;
}

/** A key's place in its rotation lineage: its predecessor, and its successor (named on rotation, or rotated from it). */
export interface KeyLink {
  readonly rotatedFrom: string | null;
  readonly next: string | null;
}

export interface ValidKey {
  id: string;
  name: string;
  handle: string | null;
  userId: string;
  start: string;
  createdAt: string;
  expiresAt: string | null;
}

/** What `audit verify --store` compares the log with: the chain value the read model recorded at each position. */
export interface WitnessRow {
  readonly position: number;
  readonly event_id: string;
  readonly chain: string;
}

export interface AuditWitness {
  /** Rows after `after` and at or before `upTo`, in position order. */
  witnessRows(after: number, upTo: number, limit: number): Promise<WitnessRow[]>;
  positionOf(eventId: string): Promise<number | null>;
  close(): Promise<void>;
}

export interface AuditStore extends AuditWitness {
  readonly kind: 'sqlite' | 'postgres';
  /** Other instances read (and may write) it too: only the holder of the audit-writer lease writes. */
  readonly shared: boolean;
  /** What the store holds now (another instance may have written it). */
  state(): Promise<AuditState>;
  /**
   * Applies events in log order in one transaction and returns the new state. Idempotent by position: events at or
   * before the stored position are skipped, so a writer that takes over, or replays a batch, never duplicates a row.
   */
  applyBatch(events: readonly RecordedEvent[]): Promise<AuditState>;
  /**
   * Present when the store can follow the ledger by itself, off the request loop (audit.db next to the SQLite log: a
   * writer process reads the log and writes in large transactions). It starts from the stored position and reports
   * each position it has stored; `caughtUp` resolves once it holds the log as it was at start.
   */
  follow?: (onPosition: (position: number) => void, onError: (err: unknown) => void) => Subscription;
  /** Drops everything and projects these batches (the whole log, in order) from the genesis chain. */
  rebuild(batches: AsyncIterable<readonly RecordedEvent[]>): Promise<AuditState>;
  rows(q: RowQuery): Promise<AuditRow[]>;
  recordPage(q: PageQuery): Promise<RecordPage | null>;
  keyLink(keyId: string): Promise<KeyLink>;
  /** Keys of the workspace that would have verified at `at` (ms), sorted by creation then id. */
  keysValidAt(workspaceId: string, at: number): Promise<ValidKey[]>;
  /** The n-th event after `after` that is not a checkpoint, with its chain value (the checkpointer's every-N rule). */
  nthAfter(after: number, n: number): Promise<AuditState | null>;
}

export const CHECKPOINT_TYPE = 'LedgerCheckpointed';
