import { expect } from 'chai';
import { hash, type BinaryToTextEncoding } from 'node:crypto';
import { KeyTable, type LiveMembership, type NewKey } from '../../projections/read-model/key-table.js';
import { KeyStatus, type UserView } from '../../projections/read-model/views.js';

const owner: UserView = {
  id: 'usr_1',
  email: 'a@example.com',
  name: 'A',
  systemRole: 'user',
  active: true,
  passwordHash: '',
  defaultWorkspaceId: null,
  createdAt: 0,
};
const membership: LiveMembership = { workspaceId: 'ws_1', role: 'member' };
const raw = (s: string): string => hash('sha256', s, 'latin1' as BinaryToTextEncoding);
const hex = (s: string): string => hash('sha256', s, 'hex');

function newKey(id: string, over: Partial<NewKey> = {}): NewKey {
  return {
    id,
    owner,
    membership,
    scopes: null,
    format: 'opaque',
    start: 'tl_abcd',
    createdAt: Date.parse('2026-03-04T05:06:07.089Z'),
    expiresAt: null,
    name: `key ${id}`,
    description: null,
    handle: null,
    alias: null,
    retrievable: false,
    rotatedFrom: null,
    ...over,
  };
}

describe('key table (read model storage)', () => {
  it('finds every key by raw digest and by id across many growths, and nothing else', () => {
    const t = new KeyTable();
    const n = 20_000;
    for (let i = 0; i < n; i++) expect(t.add(hex(`token-${i}`), newKey(`key_${i}`))).to.not.equal(undefined);
    expect(t.size).to.equal(n);
    for (let i = 0; i < n; i += 97) {
      expect(t.byRawDigest(raw(`token-${i}`))?.id).to.equal(`key_${i}`);
      expect(t.get(`key_${i}`)?.digest).to.equal(hex(`token-${i}`));
    }
    expect(t.byRawDigest(raw('token-unknown'))).to.equal(undefined);
    expect(t.byRawDigest('short')).to.equal(undefined);
    expect(t.get('key_unknown')).to.equal(undefined);
    expect([...t.values()].length).to.equal(n);
  });

  it('refuses a second key with the same digest or the same id (replays keep the first)', () => {
    const t = new KeyTable();
    expect(t.add(hex('a'), newKey('key_a'))).to.not.equal(undefined);
    expect(t.add(hex('a'), newKey('key_b'))).to.equal(undefined);
    expect(t.add(hex('b'), newKey('key_a'))).to.equal(undefined);
    expect(t.size).to.equal(1);
    expect(t.add(hex('b'), newKey('key_b'))?.id).to.equal('key_b');
    expect(t.byRawDigest(raw('b'))?.id).to.equal('key_b');
  });

  it('rejects a digest that is not 64 hex chars as a programming error', () => {
    expect(() => new KeyTable().add('xyz', newKey('key_a'))).to.throw(TypeError);
  });

  it('keeps times to the millisecond, before 2020 and far in the future too', () => {
    const t = new KeyTable();
    for (const [i, iso] of [
      '2026-03-04T05:06:07.089Z',
      '1999-12-31T23:59:59.999Z',
      '2150-01-01T00:00:00.001Z',
      '1970-01-01T00:00:00.000Z',
    ].entries()) {
      const ms = Date.parse(iso);
      const k = t.add(hex(`t${i}`), newKey(`key_${i}`, { createdAt: ms, expiresAt: ms + 1 }))!;
      expect(k.createdAt).to.equal(ms);
      expect(k.expiresAt).to.equal(ms + 1);
      expect(k.requestedExpiresAt).to.equal(ms + 1);
    }
    const never = t.add(hex('never'), newKey('key_never'))!;
    expect(never.expiresAt).to.equal(Infinity);
    expect(never.requestedExpiresAt).to.equal(null);
  });

  it('lowers the effective expiry for a rotation grace but keeps the requested one', () => {
    const t = new KeyTable();
    const created = Date.parse('2026-01-01T00:00:00.000Z');
    const k = t.add(hex('r'), newKey('key_r', { createdAt: created, expiresAt: created + 86_400_000 }))!;
    k.expiresAt = created + 1234;
    expect(k.expiresAt).to.equal(created + 1234);
    expect(k.requestedExpiresAt).to.equal(created + 86_400_000);
    const open = t.add(hex('o'), newKey('key_o', { createdAt: created }))!;
    open.expiresAt = created + 5;
    expect(open.expiresAt).to.equal(created + 5);
    expect(open.requestedExpiresAt).to.equal(null);
  });

  it('packs status, format and retrievability without mixing them up', () => {
    const t = new KeyTable();
    const k = t.add(
      hex('p'),
      newKey('key_p', { format: 'jwt', retrievable: true, handle: 'ci', alias: 'x', description: 'd' }),
    )!;
    expect([k.format, k.retrievable, k.status, k.handle, k.alias, k.description]).to.deep.equal([
      'jwt',
      true,
      KeyStatus.Active,
      'ci',
      'x',
      'd',
    ]);
    k.status = KeyStatus.Revoked;
    expect([k.format, k.retrievable, k.status]).to.deep.equal(['jwt', true, KeyStatus.Revoked]);
    expect(k.workspaceId).to.equal('ws_1');
    expect(k.toJSON()).to.include({
      id: 'key_p',
      format: 'jwt',
      status: KeyStatus.Revoked,
      useCount: 0,
      lastUsedAt: null,
    });
  });
  it('keeps a rotation grace through a pack, and reads it from an image packed without the grace flag', () => {
    const t = new KeyTable();
    const ends = Date.parse('2026-05-06T07:08:09.010Z');
    const k = t.add(hex('g'), newKey('key_g', { expiresAt: ends + 60_000 }))!;
    k.useCount = 3; // usage alone allocates the extras and must not look like a grace
    expect(k.graceEndsAt).to.equal(null);
    k.graceEndsAt = ends;
    expect([k.graceEndsAt, k.expiresAt, k.status]).to.deep.equal([ends, ends + 60_000, KeyStatus.Active]);
    const image = k.pack();
    // Images carry the grace in the extras only, as before the flag existed.
    expect(image[0]).to.equal(t.add(hex('g2'), newKey('key_g2', { expiresAt: ends + 60_000 }))!.pack()[0]);
    const back = t.add(hex('g3'), newKey('key_g3'))!;
    back.unpack(image);
    expect([back.graceEndsAt, back.useCount, back.expiresAt]).to.deep.equal([ends, 3, ends + 60_000]);
    back.graceEndsAt = null;
    expect(back.graceEndsAt).to.equal(null);
    const plain = t.add(hex('g4'), newKey('key_g4'))!;
    plain.unpack(t.add(hex('g5'), newKey('key_g5'))!.pack());
    expect(plain.graceEndsAt).to.equal(null);
  });
});
