// Plans a group commit in memory: given the heads of the batch's streams and the rows that already hold its ids, it
// decides each append's outcome (written, a retry of a written one, or refused) and the rows to insert, so the
// transaction needs a fixed number of round trips whatever the batch size.
import { ConcurrencyError, IdempotencyError, type LedgerError } from '../errors.js';
import type { AppendResult, ExpectedRevision, SerializedEvent } from './types.js';

export interface PlannedAppend {
  readonly streamId: string;
  readonly events: readonly SerializedEvent[];
  readonly expected: ExpectedRevision;
}

/** A stored (or about to be stored) event, by the columns that identify it. */
export interface IdRow {
  readonly position: number;
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
}

export type AppendOutcome =
  { readonly ok: true; readonly r: AppendResult } | { readonly ok: false; readonly e: LedgerError };

export interface BatchPlan {
  readonly outcomes: AppendOutcome[];
  /** New rows, in position order: position, id, stream, revision, type, data, metadata. */
  readonly rows: Array<[number, string, string, number, string, string, string]>;
}

/** Whether an append expecting `expected` may go on a stream whose last revision is `head` (-1: no stream). */
export function expectationHolds(expected: ExpectedRevision, head: number): boolean {
  return (
    expected === 'any' ||
    (expected === 'no_stream' && head === -1) ||
    (expected === 'stream_exists' && head >= 0) ||
    expected === head
  );
}

/**
 * @param heads last revision of each stream of the batch that has events
 * @param known rows already stored under any id of the batch
 * @param nextPosition the position the first new event takes
 */
export function planBatch(
  batch: readonly PlannedAppend[],
  heads: Map<string, number>,
  known: Map<string, IdRow>,
  nextPosition: number,
): BatchPlan {
  const outcomes: AppendOutcome[] = [];
  const rows: BatchPlan['rows'] = [];
  let next = nextPosition;
  for (const p of batch) {
    const first = p.events[0]!;
    const head = heads.get(p.streamId) ?? -1;
    const exp = p.expected;
    const holds = expectationHolds(exp, head);
    // A retry of an append that already landed (earlier, or earlier in this batch) returns its original result.
    if (known.has(first.id)) {
      outcomes.push(retried(p, known));
      continue;
    }
    if (!holds) {
      outcomes.push({
        ok: false,
        e: new ConcurrencyError(p.streamId, String(exp), head === -1 ? 'no_stream' : String(head)),
      });
      continue;
    }
    const reused = p.events.find((e, i) => known.has(e.id) || p.events.findIndex((o) => o.id === e.id) !== i);
    if (reused) {
      outcomes.push({ ok: false, e: new IdempotencyError(p.streamId, reused.id) });
      continue;
    }
    p.events.forEach((ev, i) => {
      const row = { position: next + i, streamId: p.streamId, revision: head + 1 + i, type: ev.type };
      known.set(ev.id, row);
      rows.push([row.position, ev.id, p.streamId, row.revision, ev.type, ev.data, ev.metadata]);
    });
    heads.set(p.streamId, head + p.events.length);
    next += p.events.length;
    outcomes.push({ ok: true, r: { nextRevision: head + p.events.length, position: next - 1 } });
  }
  return { outcomes, rows };
}

/** The original result of a batch whose first id is stored: every event must match, in order, or it is a conflict. */
function retried(p: PlannedAppend, known: Map<string, IdRow>): AppendOutcome {
  const first = known.get(p.events[0]!.id)!;
  let last = first;
  for (const [i, ev] of p.events.entries()) {
    const row = known.get(ev.id);
    if (!row || row.streamId !== p.streamId || row.revision !== first.revision + i || row.type !== ev.type)
      return { ok: false, e: new IdempotencyError(p.streamId, ev.id) };
    last = row;
  }
  return { ok: true, r: { nextRevision: last.revision, position: last.position } };
}
