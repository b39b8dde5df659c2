// How many queued appends the SQLite store commits together: up to 32 as before, half of a backlog up to 512.
import { expect } from 'chai';
import fc from 'fast-check';
import { groupSize } from '../../events/store/sqlite.js';

describe('SQLite group commit size', () => {
  it('takes what is queued up to 32, and half of a larger backlog up to 512', () => {
    expect([1, 2, 31, 32, 33, 64].map(groupSize)).to.deep.equal([1, 2, 31, 32, 32, 32]);
    expect([65, 100, 1024, 1025, 10_000].map(groupSize)).to.deep.equal([32, 50, 512, 512, 512]);
  });

  it('takes at least one and at most what is queued; a backlog leaves at least half of itself to gather', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (queued) => {
        const n = groupSize(queued);
        expect(n).to.be.within(1, Math.min(queued, 512));
        if (queued > 64) expect(queued - n).to.be.at.least(Math.ceil(queued / 2));
        else expect(n).to.equal(Math.min(queued, 32));
      }),
      { numRuns: 2000 },
    );
  });
});
