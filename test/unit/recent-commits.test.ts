// The SQLite store's tail of its own commits: what it answers for "after p" is exactly what the log holds there.
import { expect } from 'chai';
import fc from 'fast-check';
import { RecentCommits } from '../../events/store/recent-commits.js';
import { arrayToRecorded } from '../../events/store/sqlite.js';
import type { RecordedEvent } from '../../events/store/types.js';

/** The fields of a recorded event, as a plain object (a row's metadata is parsed on first use). */
const plain = ({ id, streamId, revision, position, type, data, metadata }: RecordedEvent): RecordedEvent => ({
  id,
  streamId,
  revision,
  position,
  type,
  data,
  metadata,
});

const id = (n: number): string => `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`;

describe('unit: recent commits of a SQLite store', () => {
  it('answers the events right after a position, consecutive, up to the count, or null when it does not hold it', () => {
    // Commits by this writer (size 1–4) and by other writers (gaps it never sees), over a small capacity.
    const step = fc.record({ ours: fc.boolean(), size: fc.integer({ min: 1, max: 4 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), (steps, capacity) => {
        const recent = new RecentCommits(capacity);
        const log: RecordedEvent[] = [];
        const ours = new Set<number>();
        for (const [s, { ours: mine, size }] of steps.entries()) {
          const events = Array.from({ length: size }, (_, i) => ({
            id: id(log.length + i + 1),
            type: `T${s}`,
            data: JSON.stringify({ s, i }),
            metadata: JSON.stringify({ n: log.length + i }),
          }));
          const first = log.length + 1;
          events.forEach((e, i) =>
            log.push({
              id: e.id,
              streamId: `st${s % 3}`,
              revision: 10 + i,
              position: first + i,
              type: e.type,
              data: { s, i },
              metadata: { n: first - 1 + i },
            }),
          );
          if (mine) {
            recent.add(`st${s % 3}`, events, { position: first + size - 1, nextRevision: 10 + size - 1 });
            for (let p = first; p < first + size; p++) ours.add(p);
          }
        }
        for (let after = -1; after <= log.length + 1; after++) {
          for (const max of [1, 3, 100]) {
            const rows = recent.after(after, max);
            if (rows === null) continue; // the file answers instead
            const got = rows.map((r) => plain(arrayToRecorded(r)));
            expect(ours.has(after + 1), `after ${after}`).to.equal(true);
            expect(got.length).to.be.within(1, max);
            // Exactly the log's events from after + 1 on, all ours.
            expect(got).to.deep.equal(log.slice(after, after + got.length));
            for (const e of got) expect(ours.has(e.position)).to.equal(true);
          }
        }
        // The newest commit is always held in full.
        const last = log[log.length - 1];
        if (last !== undefined && ours.has(last.position)) expect(recent.after(last.position - 1, 1)).to.have.length(1);
      }),
      { numRuns: 300 },
    );
  });

  it('gives every caller objects of its own', () => {
    const recent = new RecentCommits();
    recent.add('s', [{ id: id(1), type: 'T', data: '{"a":[1]}', metadata: '{}' }], { position: 1, nextRevision: 0 });
    const read = () => recent.after(0, 10)!.map(arrayToRecorded);
    (read()[0]!.data as { a: number[] }).a.push(2);
    expect(read()[0]!.data).to.deep.equal({ a: [1] });
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const c of [0, -1, 1.5, Number.NaN]) expect(() => new RecentCommits(c)).to.throw(TypeError);
  });
});
