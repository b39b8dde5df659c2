// Streams audit records (JSONL or CSV) page by page from the audit store, hashing the exact bytes, and builds the
// manifest. The stores and the offline verifier share the renderers (row.ts), so a verifier rebuilds every record.
import { createHash } from 'node:crypto';
import { GENESIS_CHAIN } from '../../events/chain.js';
import { CHECKPOINT_TYPE, type AuditStore } from '../../projections/audit/store.js';
import type { AuditFilters } from './filters.js';
import { MANIFEST_VERSION, type CheckpointRef, type ExportFormat, type ExportManifest } from './manifest.js';

export const PAGE_SIZE = 1000;

export interface ExportSpec {
  readonly filters: AuditFilters;
  /** The workspaces the caller may export (auditScope with audit:export); null: the whole ledger. */
  readonly scope: readonly string[] | null;
  readonly format: ExportFormat;
  /** Last ledger position included: the snapshot the export is pinned to. */
  readonly toPosition: number;
}

export interface ExportTotals {
  readonly count: number;
  readonly firstChain: string | null;
  readonly lastChain: string | null;
  readonly recordsSha256: string;
}

/**
 * Writes every matching record up to spec.toPosition, oldest first, as one Buffer per page of PAGE_SIZE rows
 * (keyset paging, position > last: short statements, while the projection keeps writing).
 * `write` resolves when the consumer can take more; it rejects to stop the export.
 */
export async function writeRecords(
  store: AuditStore,
  spec: ExportSpec,
  write: (chunk: Buffer) => Promise<void>,
): Promise<ExportTotals> {
  const hash = createHash('sha256');
  let last = Number.MIN_SAFE_INTEGER;
  let first: number | null = null;
  let count = 0;
  for (;;) {
    const page = await store.recordPage({
      filters: spec.filters,
      scope: spec.scope,
      format: spec.format,
      after: last,
      upTo: spec.toPosition,
      limit: PAGE_SIZE,
    });
    if (page === null) break;
    hash.update(page.chunk);
    first ??= page.first;
    last = page.last;
    count += page.count;
    await write(page.chunk);
    if (page.count < PAGE_SIZE) break;
  }
  return {
    count,
    firstChain: first === null ? null : await chainAt(store, first),
    lastChain: count === 0 ? null : await chainAt(store, last),
    recordsSha256: hash.digest('hex'),
  };
}

async function chainAt(store: AuditStore, position: number): Promise<string | null> {
  const [row] = await store.rows({
    filters: {},
    scope: null,
    after: position - 1,
    upTo: position,
    order: 'asc',
    limit: 1,
  });
  return row?.chain ?? null;
}

/** The newest signed checkpoint recorded at or before `position`, if any. */
export async function checkpointAtOrBefore(store: AuditStore, position: number): Promise<CheckpointRef | null> {
  const [row] = await store.rows({
    filters: { type: [CHECKPOINT_TYPE] },
    scope: null,
    upTo: position,
    order: 'desc',
    limit: 1,
  });
  if (!row) return null;
  const d = (JSON.parse(row.event) as { data: CheckpointRef }).data;
  return { position: d.position, chain: d.chain, at: d.at, kid: d.kid, signature: d.signature };
}

/** Assembles the (unsigned) manifest for records written up to spec.toPosition. */
export async function buildManifest(
  store: AuditStore,
  spec: ExportSpec,
  totals: ExportTotals,
  kid: string,
  now: Date,
): Promise<ExportManifest> {
  const [first] = await store.rows({ filters: {}, scope: null, order: 'asc', limit: 1 });
  const [head] = await store.rows({ filters: {}, scope: null, upTo: spec.toPosition, order: 'desc', limit: 1 });
  return {
    version: MANIFEST_VERSION,
    format: spec.format,
    generatedAt: now.toISOString(),
    filters: spec.filters,
    scope: spec.scope === null ? null : [...spec.scope],
    range: {
      fromPosition: first?.position ?? 0,
      toPosition: spec.toPosition,
      from: spec.filters.from ?? null,
      to: spec.filters.to ?? null,
    },
    count: totals.count,
    firstChain: totals.firstChain,
    lastChain: totals.lastChain,
    recordsSha256: totals.recordsSha256,
    head: { position: spec.toPosition, chain: head?.chain ?? GENESIS_CHAIN },
    checkpoint: await checkpointAtOrBefore(store, spec.toPosition),
    kid,
  };
}
