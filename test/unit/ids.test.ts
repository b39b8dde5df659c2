// Event ids are RFC 9562 UUIDv7: version and variant bits right, the time in front (so later ids sort later), and the
// rest random (no two alike).
import { expect } from 'chai';
import fc from 'fast-check';
import { randomIds, uuidV7 } from '../../services/ids.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('unit: UUIDv7 event ids', () => {
  it('have version 7, the RFC variant, and the Unix time in ms in their first 48 bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (ms) => {
        const id = uuidV7(ms);
        expect(id).to.match(V7);
        expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).to.equal(ms);
      }),
    );
    expect(randomIds.uuid()).to.match(V7);
  });

  it('sort by time: an id from a later millisecond sorts after every earlier one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 2 }), fc.integer({ min: 1, max: 1000 }), (ms, later) => {
        const a = uuidV7(ms);
        const b = uuidV7(Math.min(2 ** 48 - 1, ms + later));
        expect(a < b).to.equal(true);
      }),
    );
  });

  it('are unique within one millisecond (74 random bits each)', () => {
    const now = Date.now();
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(uuidV7(now));
    expect(seen.size).to.equal(100_000);
  });
});
