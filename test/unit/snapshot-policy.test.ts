// When the timer starts a periodic read-model snapshot: `every` events past the last one, and not before the rest that
// keeps snapshots to SNAPSHOT_SHARE of wall time, unless the tail a restart would replay has grown too long.
import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_TAIL_EVERIES, restAfter, SNAPSHOT_SHARE, snapshotDue } from '../../services/snapshots/snapshotter.js';

describe('snapshot policy', () => {
  describe('restAfter', () => {
    it('given a job of 1.5 s, when it ends at 10 s, then the next may start 13.5 s later (a tenth of wall time)', () => {
      expect(SNAPSHOT_SHARE).to.equal(0.1);
      expect(restAfter(8_500, 10_000)).to.be.closeTo(23_500, 1e-6);
    });

    it('keeps the jobs to the given share of the time from one start to the next', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 1e9 }),
          fc.integer({ min: 0, max: 1e7 }),
          fc.double({ min: 0.01, max: 1, noNaN: true }),
          (start, duration, share) => {
            const next = restAfter(start, start + duration, share);
            expect(next).to.be.at.least(start + duration);
            if (duration > 0) expect(duration / (next - start)).to.be.closeTo(share, 1e-6);
          },
        ),
      );
    });

    it('refuses a share outside (0, 1] as misuse', () => {
      for (const share of [0, -0.1, 1.5, Number.NaN]) expect(() => restAfter(0, 1, share)).to.throw(TypeError);
    });
  });

  describe('snapshotDue', () => {
    const base = { every: 50_000, position: 120_000, last: 60_000, now: 5_000, restUntil: 4_000 };

    it('given enough events and the rest over, then it is due', () => {
      expect(snapshotDue(base)).to.equal(true);
    });

    it('given enough events but the rest not over, then it waits', () => {
      expect(snapshotDue({ ...base, restUntil: 5_001 })).to.equal(false);
    });

    it('given a tail of four times every, then it is due even during the rest', () => {
      expect(MAX_TAIL_EVERIES).to.equal(4);
      expect(snapshotDue({ ...base, restUntil: 1e12, position: 60_000 + 200_000 - 1 })).to.equal(false);
      expect(snapshotDue({ ...base, restUntil: 1e12, position: 60_000 + 200_000 })).to.equal(true);
    });

    it('is due exactly when every is reached and either the rest is over or the tail is long', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 1e6 }),
          fc.nat(1e8),
          fc.nat(1e8),
          fc.nat(1e9),
          fc.nat(1e9),
          (every, last, tail, now, restUntil) => {
            const due = snapshotDue({ every, position: last + tail, last, now, restUntil });
            expect(due).to.equal(tail >= every && (now >= restUntil || tail >= 4 * every));
          },
        ),
      );
    });

    it('given the rest over but too few events, then it waits', () => {
      expect(snapshotDue({ ...base, position: 109_999 })).to.equal(false);
    });

    it('given every = 0, then it is never due', () => {
      fc.assert(
        fc.property(fc.nat(), fc.nat(), fc.nat(), (position, last, now) => {
          expect(snapshotDue({ every: 0, position, last, now, restUntil: -Infinity })).to.equal(false);
        }),
      );
    });
  });
});
