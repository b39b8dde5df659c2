import { expect } from 'chai';
import { digestHex, isWellFormedOpaque, mintOpaqueToken, looksLikeJwt } from '../../services/crypto/tokens.js';

describe('opaque token format', () => {
  it('mints <prefix>_<43 base62><6 base62 checksum> that passes its own check', () => {
    const t = mintOpaqueToken('tl');
    expect(t).to.match(/^tl_[0-9A-Za-z]{49}$/);
    expect(isWellFormedOpaque(t)).to.equal(true);
  });
  it('honours a configured prefix', () => {
    expect(mintOpaqueToken('dot')).to.match(/^dot_/);
    expect(() => mintOpaqueToken('Bad-Prefix')).to.throw(TypeError);
  });
  it('rejects a token with one character changed (checksum)', () => {
    const t = mintOpaqueToken('tl');
    const i = 10;
    const flipped = t.slice(0, i) + (t[i] === 'a' ? 'b' : 'a') + t.slice(i + 1);
    expect(isWellFormedOpaque(flipped)).to.equal(false);
  });
  it('rejects wrong lengths, characters and missing prefix', () => {
    const t = mintOpaqueToken('tl');
    expect(isWellFormedOpaque(t.slice(0, -1))).to.equal(false);
    expect(isWellFormedOpaque(t + 'a')).to.equal(false);
    expect(isWellFormedOpaque(t.replace('tl_', 'tl-'))).to.equal(false);
    expect(isWellFormedOpaque(t.slice(3))).to.equal(false);
    expect(isWellFormedOpaque(`${t.slice(0, 20)}!${t.slice(21)}`)).to.equal(false);
  });
  it('distinct tokens every time (CSPRNG)', () => {
    const seen = new Set(Array.from({ length: 1000 }, () => mintOpaqueToken('tl')));
    expect(seen.size).to.equal(1000);
  });
  it('digests with SHA-256 hex and tells JWT shapes apart', () => {
    expect(digestHex('abc')).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(looksLikeJwt('a.b.c')).to.equal(true);
    expect(looksLikeJwt('a.b')).to.equal(false);
  });
});
