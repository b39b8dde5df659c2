import { expect } from 'chai';
import type { LedgerError } from '../../events/errors.js';
import { SYSTEM } from '../../services/ledger.js';
import { rejectsWith } from '../support/async.js';
import { makeLedger, seedOwner, type TestLedger } from '../support/ledger.js';

describe('ledger: keys through the domain layer', () => {
  let t: TestLedger;
  let owner: { userId: string; workspaceId: string };
  beforeEach(async () => {
    t = await makeLedger();
    owner = await seedOwner(t.ledger);
  });
  afterEach(async () => t.dispose());

  it('a created key verifies at once (read-your-writes) and its token is never stored', async () => {
    const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
    expect(t.ledger.verify(token)).to.include({ valid: true, code: 'VALID' });
    const events = await t.ledger.store.readStream(`apikey-${key.id}`);
    expect(JSON.stringify(events)).not.to.include(token);
    expect(JSON.stringify(events)).not.to.include(token.slice(8));
  });

  it('a revocation is in force the moment the call returns', async () => {
    const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
    await t.ledger.keys.revoke(key.id, 'leaked', { actor: { type: 'user', id: owner.userId } });
    expect(t.ledger.verify(token).code).to.equal('REVOKED');
    const events = await t.ledger.store.readStream(`apikey-${key.id}`);
    expect(events.at(-1)?.data).to.deep.include({ reason: 'leaked', revokedBy: { type: 'user', id: owner.userId } });
  });

  it('answers MALFORMED before lookup and NOT_FOUND for a well-formed stranger', async () => {
    expect(t.ledger.verify('nope').code).to.equal('MALFORMED');
    const { token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
    const bad = token.slice(0, -1) + (token.endsWith('a') ? 'b' : 'a');
    expect(t.ledger.verify(bad).code).to.equal('MALFORMED');
    await t.ledger.keys.revoke(
      (await t.ledger.keys.create({ userId: owner.userId, name: 'x' }, SYSTEM)).key.id,
      null,
      SYSTEM,
    );
    const { token: other } = await (await makeLedgerFor()).createKey();
    expect(t.ledger.verify(other).code).to.equal('NOT_FOUND');
  });

  it('rejects an expired key by its timestamp before the event exists, then writes ApiKeyExpired once', async () => {
    const { key, token } = await t.ledger.keys.create(
      { userId: owner.userId, name: 'ci', expiresInSeconds: 60 },
      SYSTEM,
    );
    t.clock.advance(61);
    expect(t.ledger.verify(token).code).to.equal('EXPIRED');
    await t.ledger.expiry.runDue();
    await t.ledger.expiry.runDue();
    const types = (await t.ledger.store.readStream(`apikey-${key.id}`)).map((e) => e.type);
    expect(types.filter((x) => x === 'ApiKeyExpired')).to.have.length(1);
  });

  it('deactivating the owner or removing the member stops the keys without touching key streams', async () => {
    const member = await t.ledger.users.register(
      { email: 'm@example.com', name: 'M', password: 'correct horse battery staple', workspaceId: owner.workspaceId },
      SYSTEM,
    );
    const { key, token } = await t.ledger.keys.create({ userId: member.id, name: 'ci' }, SYSTEM);
    const before = (await t.ledger.store.readStream(`apikey-${key.id}`)).length;
    await t.ledger.users.deactivate(member.id, null, SYSTEM);
    expect(t.ledger.verify(token).code).to.equal('OWNER_INACTIVE');
    await t.ledger.users.reactivate(member.id, SYSTEM);
    expect(t.ledger.verify(token).code).to.equal('VALID');
    await t.ledger.workspaces.removeMember(owner.workspaceId, member.id, SYSTEM);
    expect(t.ledger.verify(token).code).to.equal('NOT_A_MEMBER');
    expect((await t.ledger.store.readStream(`apikey-${key.id}`)).length).to.equal(before);
  });

  it("intersects the owner's role with the key's scopes", async () => {
    const auditor = await t.ledger.users.register(
      {
        email: 'a@example.com',
        name: 'A',
        password: 'correct horse battery staple',
        workspaceId: owner.workspaceId,
        role: 'auditor',
      },
      SYSTEM,
    );
    // A scope the role does not hold is refused at creation, not stored.
    await rejectsWith(
      t.ledger.keys.create({ userId: auditor.id, name: 'audit', scopes: ['audit:read', 'keys:create'] }, SYSTEM),
      'SCOPE_NOT_HELD',
    );
    await t.ledger.workspaces.setMemberRole(owner.workspaceId, auditor.id, 'admin', SYSTEM);
    const { token } = await t.ledger.keys.create(
      { userId: auditor.id, name: 'audit', scopes: ['audit:read', 'keys:create'] },
      SYSTEM,
    );
    expect(t.ledger.verify(token, { scopes: ['keys:create'] }).code).to.equal('VALID');
    // When the role shrinks afterwards, the key's power shrinks with it.
    await t.ledger.workspaces.setMemberRole(owner.workspaceId, auditor.id, 'auditor', SYSTEM);
    expect(t.ledger.verify(token, { scopes: ['audit:read'] }).code).to.equal('VALID');
    expect(t.ledger.verify(token, { scopes: ['keys:create'] }).code).to.equal('INSUFFICIENT_SCOPE'); // role lacks it
    expect(t.ledger.verify(token, { scopes: ['audit:export'] }).code).to.equal('INSUFFICIENT_SCOPE'); // key lacks it
  });

  it('keeps handles unique per user and finds keys by handle', async () => {
    const { key } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM);
    await rejectsWith(
      t.ledger.keys.create({ userId: owner.userId, name: 'ci2', handle: 'ci' }, SYSTEM),
      'HANDLE_TAKEN',
    );
    expect(t.ledger.read.findKeyFor(owner.userId, 'ci')?.id).to.equal(key.id);
    const other = await t.ledger.users.register(
      { email: 'o@example.com', name: 'O', password: 'correct horse battery staple', workspaceId: owner.workspaceId },
      SYSTEM,
    );
    await t.ledger.keys.create({ userId: other.id, name: 'ci', handle: 'ci' }, SYSTEM);
    await t.ledger.keys.revoke(key.id, null, SYSTEM);
    const again = await t.ledger.keys.create({ userId: owner.userId, name: 'ci3', handle: 'ci' }, SYSTEM);
    expect(t.ledger.read.findKeyFor(owner.userId, 'ci')?.id).to.equal(again.key.id);
  });

  it('of two concurrent creations with one handle exactly one wins', async () => {
    const results = await Promise.allSettled([
      t.ledger.keys.create({ userId: owner.userId, name: 'a', handle: 'same' }, SYSTEM),
      t.ledger.keys.create({ userId: owner.userId, name: 'b', handle: 'same' }, SYSTEM),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
    expect(
      ((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as LedgerError).code,
    ).to.equal('HANDLE_TAKEN');
  });

  it('enforces the workspace policy at creation', async () => {
    await t.ledger.workspaces.setPolicy(
      owner.workspaceId,
      { maxTtlSeconds: 3600, requireExpiry: true, maxGraceSeconds: null },
      SYSTEM,
    );
    await rejectsWith(t.ledger.keys.create({ userId: owner.userId, name: 'x' }, SYSTEM), 'EXPIRY_REQUIRED');
    await rejectsWith(
      t.ledger.keys.create({ userId: owner.userId, name: 'x', expiresInSeconds: 7200 }, SYSTEM),
      'EXPIRY_BEYOND_POLICY',
    );
    await t.ledger.keys.create({ userId: owner.userId, name: 'x', expiresInSeconds: 1800 }, SYSTEM);
  });

  it('rotates with a grace period: both work, then the old one expires; links go both ways', async () => {
    const { key: old, token: oldToken } = await t.ledger.keys.create(
      { userId: owner.userId, name: 'ci', handle: 'ci' },
      SYSTEM,
    );
    const { key: next, token: newToken } = await t.ledger.keys.rotate(old.id, 60, SYSTEM);
    expect(t.ledger.verify(oldToken).code).to.equal('VALID');
    expect(t.ledger.verify(newToken).code).to.equal('VALID');
    expect(t.ledger.read.key(old.id).rotatedTo).to.equal(next.id);
    expect(next.rotatedFrom).to.equal(old.id);
    expect(t.ledger.read.findKeyFor(owner.userId, 'ci')?.id).to.equal(next.id);
    t.clock.advance(61);
    expect(t.ledger.verify(oldToken).code).to.equal('EXPIRED');
    await t.ledger.expiry.runDue();
    const types = (await t.ledger.store.readStream(`apikey-${old.id}`)).map((e) => e.type);
    expect(types).to.deep.equal(['ApiKeyCreated', 'ApiKeyRotated', 'ApiKeyExpired']);
    expect(t.ledger.verify(newToken).code).to.equal('VALID');
  });

  it('rotation without grace retires the old token at once', async () => {
    const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
    await t.ledger.keys.rotate(key.id, 0, SYSTEM);
    expect(t.ledger.verify(token).code).to.equal('EXPIRED');
  });

  it('reveals a retrievable key (AES-GCM sealed) and records each reveal', async () => {
    const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci', retrievable: true }, SYSTEM);
    expect(await t.ledger.keys.reveal(key.id, SYSTEM)).to.equal(token);
    const events = await t.ledger.store.readStream(`apikey-${key.id}`);
    expect(events.map((e) => e.type)).to.include('ApiKeySecretRevealed');
    expect(JSON.stringify(events)).not.to.include(token);
    const plain = await t.ledger.keys.create({ userId: owner.userId, name: 'p' }, SYSTEM);
    await rejectsWith(t.ledger.keys.reveal(plain.key.id, SYSTEM), 'KEY_NOT_RETRIEVABLE');
  });

  it('JWT-format keys carry the claims and verify by digest like any other token', async () => {
    const { key, token } = await t.ledger.keys.create(
      { userId: owner.userId, name: 'jwt', format: 'jwt', scopes: ['data:read'], expiresInSeconds: 3600 },
      SYSTEM,
    );
    const [h, p] = token
      .split('.')
      .slice(0, 2)
      .map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()) as Record<string, unknown>);
    expect(h).to.include({ alg: 'EdDSA', typ: 'key+jwt' });
    expect(p).to.include({ iss: 'test-issuer', aud: 'test-aud', sub: owner.userId, jti: key.id, scope: 'data:read' });
    expect(p).to.have.property('exp');
    expect(t.ledger.verify(token).code).to.equal('VALID');
    await t.ledger.keys.revoke(key.id, null, SYSTEM);
    expect(t.ledger.verify(token).code).to.equal('REVOKED');
  });

  it('survives a restart: revoked stays revoked, valid stays valid', async () => {
    const a = await t.ledger.keys.create({ userId: owner.userId, name: 'a' }, SYSTEM);
    const b = await t.ledger.keys.create({ userId: owner.userId, name: 'b' }, SYSTEM);
    await t.ledger.keys.revoke(a.key.id, null, SYSTEM);
    const again = await t.reopen();
    expect(again.verify(a.token).code).to.equal('REVOKED');
    expect(again.verify(b.token).code).to.equal('VALID');
  });
});

async function makeLedgerFor(): Promise<{ createKey: () => Promise<{ token: string }> }> {
  const t = await makeLedger();
  const o = await seedOwner(t.ledger);
  return {
    createKey: async () => {
      const r = await t.ledger.keys.create({ userId: o.userId, name: 'x' }, SYSTEM);
      await t.dispose();
      return r;
    },
  };
}
