import { expect } from 'chai';
import { KeyWorkspaces } from '../../projections/audit/key-workspaces.js';

describe("unit: the audit writer's memory of key workspaces", () => {
  it('tells a remembered "no workspace" (null) from a key it does not know (undefined)', () => {
    const k = new KeyWorkspaces(10);
    k.remember('key_a', 'ws_1');
    k.remember('key_b', null);
    expect(k.get('key_a')).to.equal('ws_1');
    expect(k.get('key_b')).to.equal(null);
    expect(k.get('key_c')).to.equal(undefined);
  });

  it('stays within its limit: full, it forgets everything and starts again', () => {
    const k = new KeyWorkspaces(3);
    for (const id of ['a', 'b', 'c']) k.remember(id, `ws_${id}`);
    k.remember('c', 'ws_c'); // known already: nothing is forgotten
    expect(k.get('a')).to.equal('ws_a');
    k.remember('d', 'ws_d');
    expect([k.get('a'), k.get('b'), k.get('c'), k.get('d')]).to.deep.equal([undefined, undefined, undefined, 'ws_d']);
  });

  it('refuses a limit that is not a positive whole number', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new KeyWorkspaces(bad)).to.throw(TypeError);
  });
});
