import { expect } from 'chai';
import { planBatch, type IdRow, type PlannedAppend } from '../../events/store/append-plan.js';

const ev = (id: string, type = 'T') => ({ id, type, data: '{}', metadata: '{}' });
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const codes = (p: ReturnType<typeof planBatch>) => p.outcomes.map((o) => (o.ok ? 'ok' : o.e.code));

describe('unit: planning a PostgreSQL group commit', () => {
  it('numbers new events after the head, per stream and globally, across appends to one stream', () => {
    const batch: PlannedAppend[] = [
      { streamId: 'a', events: [ev(id(1)), ev(id(2))], expected: 4 },
      { streamId: 'b', events: [ev(id(3))], expected: 'no_stream' },
      { streamId: 'a', events: [ev(id(4))], expected: 6 },
    ];
    const plan = planBatch(batch, new Map([['a', 4]]), new Map(), 11);
    expect(codes(plan)).to.deep.equal(['ok', 'ok', 'ok']);
    expect(plan.rows.map((r) => [r[0], r[2], r[3]])).to.deep.equal([
      [11, 'a', 5],
      [12, 'a', 6],
      [13, 'b', 0],
      [14, 'a', 7],
    ]);
    expect(plan.outcomes[2]).to.deep.equal({ ok: true, r: { nextRevision: 7, position: 14 } });
  });

  it('a refused expectation is CONCURRENCY and takes no position', () => {
    const plan = planBatch(
      [
        { streamId: 'a', events: [ev(id(1))], expected: 'no_stream' },
        { streamId: 'b', events: [ev(id(2))], expected: 'stream_exists' },
        { streamId: 'c', events: [ev(id(3))], expected: 'any' },
      ],
      new Map([['a', 0]]),
      new Map(),
      2,
    );
    expect(codes(plan)).to.deep.equal(['CONCURRENCY', 'CONCURRENCY', 'ok']);
    expect(plan.rows.map((r) => r[0])).to.deep.equal([2]);
  });

  it('a retry of a stored append, or of one earlier in the batch, returns the original result and writes nothing', () => {
    const stored = new Map<string, IdRow>([[id(1), { position: 7, streamId: 'a', revision: 0, type: 'T' }]]);
    const plan = planBatch(
      [
        { streamId: 'a', events: [ev(id(1))], expected: 'no_stream' },
        { streamId: 'b', events: [ev(id(2))], expected: 'any' },
        { streamId: 'b', events: [ev(id(2))], expected: 'any' },
      ],
      new Map([['a', 3]]),
      stored,
      9,
    );
    expect(plan.outcomes).to.deep.equal([
      { ok: true, r: { nextRevision: 0, position: 7 } },
      { ok: true, r: { nextRevision: 0, position: 9 } },
      { ok: true, r: { nextRevision: 0, position: 9 } },
    ]);
    expect(plan.rows).to.have.length(1);
  });

  it('a batch that only partly repeats a written one, or repeats an id inside itself, is IDEMPOTENCY_CONFLICT', () => {
    const stored = new Map<string, IdRow>([[id(1), { position: 7, streamId: 'a', revision: 0, type: 'T' }]]);
    const plan = planBatch(
      [
        { streamId: 'a', events: [ev(id(1)), ev(id(5))], expected: 'any' },
        { streamId: 'a', events: [ev(id(6)), ev(id(1))], expected: 'any' },
        { streamId: 'b', events: [ev(id(1), 'Other')], expected: 'any' },
        { streamId: 'c', events: [ev(id(8)), ev(id(8))], expected: 'any' },
      ],
      new Map([['a', 0]]),
      stored,
      8,
    );
    expect(codes(plan)).to.deep.equal([
      'IDEMPOTENCY_CONFLICT',
      'IDEMPOTENCY_CONFLICT',
      'IDEMPOTENCY_CONFLICT',
      'IDEMPOTENCY_CONFLICT',
    ]);
    expect(plan.rows).to.deep.equal([]);
  });
});
