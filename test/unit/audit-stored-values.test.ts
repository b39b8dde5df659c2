// The audit insert binds a row's values by position: the value list must follow the column list exactly.
import { expect } from 'chai';
import { STORED, storedValues } from '../../projections/audit/audit-db.js';
import type { AuditRow } from '../../projections/audit/row.js';

describe('audit row binding', () => {
  it('lists every stored column once, in the order the insert names them', () => {
    // Each field holds its own name, so a value out of place, missing or repeated shows up by name.
    const row = Object.fromEntries(STORED.map((c) => [c, c])) as unknown as AuditRow;
    expect(storedValues(row)).to.deep.equal([...STORED]);
    expect(new Set(STORED).size).to.equal(STORED.length);
  });
});
