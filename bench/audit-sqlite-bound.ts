// What SQLite alone costs the audit catch-up: rows flattened beforehand, written the way the writer process writes them
// (indexes deferred, transactions of 5,000 rows, indexes built after), with no decoding, flattening or timelines.
import { rmSync } from 'node:fs';
import type { RecordedEvent } from '../events/store/types.js';
import { GENESIS_CHAIN } from '../events/chain.js';
import { AuditDb, INSERT_ROW_SQL, storedValues, type AuditRow } from '../projections/audit/audit-db.js';
import { flatten } from '../projections/audit/flatten.js';
import { auditExtensions } from '../projections/audit/timeline.js';

const BATCH = 5_000;

function freshFile(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
}

/** Rows per second SQLite takes `events`, flattened beforehand, into a fresh audit.db; the better of two rounds. */
export function sqliteOnlyRate(file: string, events: readonly RecordedEvent[]): number {
  const rows: AuditRow[] = [];
  let chain = GENESIS_CHAIN;
  let hw = 0;
  for (const e of events) {
    const row = flatten(e, chain, hw);
    rows.push(row);
    chain = row.chain;
    hw = row.ms_hw;
  }
  let best = 0;
  for (let round = 0; round < 2; round++) {
    freshFile(file);
    const audit = new AuditDb(file, auditExtensions, { writer: true });
    const t0 = performance.now();
    audit.deferIndexes();
    const insert = audit.db.prepare<[Array<string | number | null>]>(INSERT_ROW_SQL);
    const write = audit.db.transaction((batch: readonly AuditRow[]) => {
      for (const row of batch) insert.run(storedValues(row));
    });
    for (let i = 0; i < rows.length; i += BATCH) write(rows.slice(i, i + BATCH));
    audit.restoreIndexes();
    audit.close();
    best = Math.max(best, rows.length / ((performance.now() - t0) / 1000));
  }
  freshFile(file);
  return best;
}
