// Rotation and creation never leave a user without a working key, never leave a stray valid key, and record
// who caused what: the successor is created (after every check) before the old key is touched.
import { expect } from 'chai';
import { streams } from '../../events/catalog.js';
import { StoreUnavailableError } from '../../events/errors.js';
import type { EventMetadata } from '../../events/metadata.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { KeyStatus, type KeyView } from '../../projections/read-model/views.js';
import { SYSTEM } from '../../services/ledger.js';
import type { TestLedger } from '../support/ledger.js';
import { rejectsWith } from '../support/async.js';
import { failFirstAppendOf, interceptedLedger, type InterceptedStore } from '../support/store-contract.js';

describe('ledger: rotation and creation', () => {
  let store: InterceptedStore;
  let t: TestLedger;
  let owner: { userId: string; workspaceId: string };
  let dispose: () => Promise<void>;
  beforeEach(async () => {
    ({ t, store, owner, dispose } = await interceptedLedger('ledger-rotation'));
  });
  afterEach(() => dispose());

  const types = async (keyId: string): Promise<string[]> =>
    (await store.readStream(streams.apiKey(keyId))).map((e) => e.type);
  const successorsOf = (keyId: string): KeyView[] =>
    [...t.ledger.read.allKeys()].filter((k) => k.rotatedFrom === keyId);
  const since = async (after: number): Promise<RecordedEvent[]> =>
    (await store.readAll({ after, maxCount: 1000 })).events;

  describe('a refused rotation leaves the old key working and untouched', () => {
    it('under a policy tightened after the key was made', async () => {
      const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM);
      await t.ledger.workspaces.setPolicy(
        owner.workspaceId,
        { maxTtlSeconds: 3600, requireExpiry: true, maxGraceSeconds: null },
        SYSTEM,
      );
      await rejectsWith(t.ledger.keys.rotate(key.id, 0, SYSTEM), 'EXPIRY_REQUIRED');
      expect(await types(key.id)).to.deep.equal(['ApiKeyCreated']);
      expect(t.ledger.verify(token).code).to.equal('VALID');
      expect(t.ledger.read.key(key.id).rotatedTo).to.equal(null);
      expect(successorsOf(key.id)).to.deep.equal([]);
      // The handle still belongs to the old key.
      await rejectsWith(
        t.ledger.keys.create({ userId: owner.userId, name: 'other', handle: 'ci', expiresInSeconds: 60 }, SYSTEM),
        'HANDLE_TAKEN',
      );
    });

    it('for a deactivated owner, or one no longer a member', async () => {
      const member = await t.ledger.users.register(
        { email: 'm@example.com', name: 'M', password: 'correct horse battery staple', workspaceId: owner.workspaceId },
        SYSTEM,
      );
      const { key, token } = await t.ledger.keys.create({ userId: member.id, name: 'ci' }, SYSTEM);
      await t.ledger.users.deactivate(member.id, null, SYSTEM);
      await rejectsWith(t.ledger.keys.rotate(key.id, 0, SYSTEM), 'USER_INACTIVE');
      await t.ledger.users.reactivate(member.id, SYSTEM);
      await t.ledger.workspaces.removeMember(owner.workspaceId, member.id, SYSTEM);
      await rejectsWith(t.ledger.keys.rotate(key.id, 0, SYSTEM), 'NOT_A_MEMBER');
      await t.ledger.workspaces.setMemberRole(owner.workspaceId, member.id, 'member', SYSTEM);
      expect(await types(key.id)).to.deep.equal(['ApiKeyCreated']);
      expect(t.ledger.verify(token).code).to.equal('VALID');
      expect(successorsOf(key.id)).to.deep.equal([]);
    });

    it('for a key past its expiry instant, even before ApiKeyExpired is written', async () => {
      const { key } = await t.ledger.keys.create(
        { userId: owner.userId, name: 'ci', expiresInSeconds: 60, retrievable: true },
        SYSTEM,
      );
      t.clock.advance(60);
      await rejectsWith(t.ledger.keys.rotate(key.id, 0, SYSTEM), 'KEY_EXPIRED');
      await rejectsWith(t.ledger.keys.reveal(key.id, SYSTEM), 'KEY_EXPIRED');
      await rejectsWith(t.ledger.keys.update(key.id, { name: 'renamed' }, SYSTEM), 'KEY_EXPIRED');
      expect(await types(key.id)).to.deep.equal(['ApiKeyCreated']);
      expect(successorsOf(key.id)).to.deep.equal([]);
    });
  });

  it('without a grace period given, retires the old key at once', async () => {
    const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
    const next = await t.ledger.keys.rotate(key.id, undefined, SYSTEM);
    expect(t.ledger.verify(token).code).to.equal('EXPIRED');
    expect(t.ledger.verify(next.token).code).to.equal('VALID');
  });

  it('a rotation that loses the race to a revocation revokes its successor', async () => {
    const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM);
    let raced = false;
    store.onAppend = async (streamId, events, expected, next) => {
      if (!raced && streamId === streams.apiKey(key.id) && events[0]?.type === 'ApiKeyRotated') {
        raced = true;
        const revoke = {
          type: 'ApiKeyRevoked' as const,
          data: { keyId: key.id, reason: 'leaked', revokedBy: { type: 'user', id: owner.userId } },
        };
        await store.inner.append(streamId, t.ledger.bus.envelope([revoke], SYSTEM, t.clock.now()), 'any');
      }
      return next();
    };
    await rejectsWith(t.ledger.keys.rotate(key.id, 60, SYSTEM), 'KEY_REVOKED');
    expect(raced).to.equal(true);
    expect(t.ledger.verify(token).code).to.equal('REVOKED');
    const [successor] = successorsOf(key.id);
    expect(successor?.status).to.equal(KeyStatus.Revoked);
    expect(successor?.revokeReason).to.equal('rotation_aborted');
    expect(await types(successor!.id)).to.deep.equal(['ApiKeyCreated', 'ApiKeyRevoked']);
    expect(await types(key.id)).to.deep.equal(['ApiKeyCreated', 'ApiKeyRevoked']);
    // Nothing of the owner's still works, and the handle is free again.
    expect([...t.ledger.read.allKeys()].filter((k) => k.status === KeyStatus.Active)).to.deep.equal([]);
    await t.ledger.keys.create({ userId: owner.userId, name: 'fresh', handle: 'ci' }, SYSTEM);
  });

  it('a rotation whose last write fails leaves the old key working and gives its handle back', async () => {
    const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM);
    failFirstAppendOf(store, 'ApiKeyRotated', new StoreUnavailableError('disk full', null, false));
    await rejectsWith(t.ledger.keys.rotate(key.id, 0, SYSTEM), 'STORE_UNAVAILABLE');
    expect(t.ledger.verify(token).code).to.equal('VALID');
    const [successor] = successorsOf(key.id);
    expect(successor?.status).to.equal(KeyStatus.Revoked);
    expect(successor?.revokeReason).to.equal('rotation_aborted');
    expect(t.ledger.read.findKeyFor(owner.userId, 'ci')?.id).to.equal(key.id);
    expect(t.ledger.read.findKey(key.id)?.rotatedTo).to.equal(null);
    const claims = (await since(-1)).filter(
      (e) => e.type === 'UniqueValueClaimed' && (e.data as { scope: string }).scope === 'handle',
    );
    expect(claims.map((e) => (e.data as { ownerId: string }).ownerId)).to.deep.equal([key.id, successor!.id, key.id]);
  });

  it('records one correlation id for every write of a rotation, and what caused each', async () => {
    const { key } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM);
    const head = await store.headPosition();
    const c = { actor: { type: 'user' as const, id: owner.userId }, request: { requestId: 'req_rotate' } };
    const next = await t.ledger.keys.rotate(key.id, 0, c);
    const written = await since(head);
    expect(written.map((e) => e.type)).to.deep.equal([
      'UniqueValueClaimed',
      'ApiKeyCreated',
      'ApiKeyRotated',
      'ApiKeyExpired',
    ]);
    const meta = written.map((e) => e.metadata as EventMetadata);
    expect(new Set(meta.map((m) => m.correlationId)).size).to.equal(1);
    const created = written[1]!;
    expect(created.streamId).to.equal(streams.apiKey(next.key.id));
    expect(meta.map((m) => m.causationId)).to.deep.equal(['req_rotate', 'req_rotate', created.id, created.id]);
  });

  describe('a failed creation does not hold its handle', () => {
    it('when a rule refuses it', async () => {
      await t.ledger.workspaces.setPolicy(
        owner.workspaceId,
        { maxTtlSeconds: 3600, requireExpiry: true, maxGraceSeconds: null },
        SYSTEM,
      );
      await rejectsWith(
        t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM),
        'EXPIRY_REQUIRED',
      );
      await rejectsWith(
        t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci', expiresInSeconds: 7200 }, SYSTEM),
        'EXPIRY_BEYOND_POLICY',
      );
      const { key } = await t.ledger.keys.create(
        { userId: owner.userId, name: 'ci', handle: 'ci', expiresInSeconds: 60 },
        SYSTEM,
      );
      expect(t.ledger.read.findKeyFor(owner.userId, 'ci')?.id).to.equal(key.id);
    });

    it('when its write fails after the handle was claimed', async () => {
      failFirstAppendOf(store, 'ApiKeyCreated', new StoreUnavailableError('disk full', null, false));
      await rejectsWith(
        t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM),
        'STORE_UNAVAILABLE',
      );
      const { key } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci', handle: 'ci' }, SYSTEM);
      expect(t.ledger.read.findKeyFor(owner.userId, 'ci')?.id).to.equal(key.id);
    });

    it('nor does a failed registration hold its e-mail', async () => {
      failFirstAppendOf(store, 'UserRegistered', new StoreUnavailableError('disk full', null, false));
      const input = { email: 'new@example.com', name: 'N', password: 'correct horse battery staple' };
      await rejectsWith(t.ledger.users.register(input, SYSTEM), 'STORE_UNAVAILABLE');
      expect((await t.ledger.users.register(input, SYSTEM)).email).to.equal('new@example.com');
    });
  });

  describe('JWT-format keys state their effective scopes', () => {
    const claims = (token: string): Record<string, unknown> =>
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

    it("an unscoped key carries its owner's role permissions at creation", async () => {
      const member = await t.ledger.users.register(
        { email: 'm@example.com', name: 'M', password: 'correct horse battery staple', workspaceId: owner.workspaceId },
        SYSTEM,
      );
      const { token } = await t.ledger.keys.create({ userId: member.id, name: 'jwt', format: 'jwt' }, SYSTEM);
      expect(claims(token)).to.have.property('scope', 'keys:create keys:read keys:revoke keys:verify');
    });

    it("a scoped key carries the scopes its owner's role allows", async () => {
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
      const { token } = await t.ledger.keys.create(
        { userId: auditor.id, name: 'jwt', format: 'jwt', scopes: ['keys:read', 'audit:read'] },
        SYSTEM,
      );
      expect(claims(token)).to.have.property('scope', 'audit:read keys:read');
    });
  });
});
