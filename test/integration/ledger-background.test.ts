// The ledger's background writers: use recording (exactly once per use, even across failed flushes) and the
// expiry scheduler (which holds only live keys, so a restart reads no settled key's stream).
import { expect } from 'chai';
import { streams, type ApiKeyUsed } from '../../events/catalog.js';
import { StoreUnavailableError } from '../../events/errors.js';
import type { EventMetadata } from '../../events/metadata.js';
import { toStoredEvent } from '../../events/serialization.js';
import { KeyStatus, type KeyView } from '../../projections/read-model/views.js';
import { SYSTEM } from '../../services/ledger.js';
import type { TestLedger } from '../support/ledger.js';
import {
  failFirstAppendOf,
  interceptedLedger,
  interceptedSqlite,
  type InterceptedStore,
} from '../support/store-contract.js';

describe('ledger: background writers', () => {
  let store: InterceptedStore;
  let t: TestLedger;
  let owner: { userId: string; workspaceId: string };
  let dispose: () => Promise<void>;
  beforeEach(async () => {
    ({ t, store, owner, dispose } = await interceptedLedger('ledger-background'));
  });
  afterEach(() => dispose());

  const usedEvents = async (keyId: string): Promise<ApiKeyUsed['data'][]> =>
    (await store.readStream(streams.apiKey(keyId)))
      .filter((e) => e.type === 'ApiKeyUsed')
      .map((e) => toStoredEvent(e)!.data as ApiKeyUsed['data']);
  const total = async (keyId: string): Promise<number> => (await usedEvents(keyId)).reduce((n, u) => n + u.count, 0);

  describe('use recording', () => {
    it('writes one ApiKeyUsed per key per flush, with the last presentation and a count per presentation', async () => {
      const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
      for (let i = 0; i < 5; i++) t.ledger.verifyAndRecord(token, 'bearer', { ip: '127.0.0.1', userAgent: 'test' });
      t.ledger.verifyAndRecord(token, 'api-key-header', { ip: '127.0.0.2', userAgent: 'other' });
      await t.ledger.usage.flush();
      const raw = (await store.readStream(streams.apiKey(key.id))).filter((e) => e.type === 'ApiKeyUsed');
      expect(raw).to.have.length(1);
      expect((raw[0]!.metadata as EventMetadata).schemaVersion).to.equal(2);
      expect(raw[0]!.data).to.deep.include({
        count: 6,
        presentation: 'api-key-header',
        presentations: { bearer: 5, 'api-key-header': 1 },
        lastIp: '127.0.0.2',
        lastUserAgent: 'other',
      });
    });

    it('after a flush that failed for some keys, writes only those again', async () => {
      const a = await t.ledger.keys.create({ userId: owner.userId, name: 'a' }, SYSTEM);
      const b = await t.ledger.keys.create({ userId: owner.userId, name: 'b' }, SYSTEM);
      for (let i = 0; i < 3; i++) t.ledger.verifyAndRecord(a.token, 'bearer');
      for (let i = 0; i < 2; i++) t.ledger.verifyAndRecord(b.token, 'bearer');
      const failures = failFirstAppendOf(
        store,
        'ApiKeyUsed',
        new StoreUnavailableError('busy', null, true),
        streams.apiKey(a.key.id),
      );
      await t.ledger.usage.flush();
      expect(failures()).to.equal(1);
      expect(await total(a.key.id)).to.equal(0);
      expect(await total(b.key.id)).to.equal(2);
      expect(t.ledger.usage.pendingFor(a.key.id).count).to.equal(3);
      t.ledger.verifyAndRecord(a.token, 'url');
      await t.ledger.usage.flush();
      expect(await total(a.key.id)).to.equal(4);
      expect(await total(b.key.id)).to.equal(2);
      expect(t.ledger.usage.pendingCount).to.equal(0);
    });

    it('retries a write whose outcome was lost under the same event id, so it counts once', async () => {
      const { key, token } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
      for (let i = 0; i < 3; i++) t.ledger.verifyAndRecord(token, 'bearer');
      const ids: string[] = [];
      store.onAppend = async (streamId, events, expected, next) => {
        if (events[0]?.type !== 'ApiKeyUsed') return next();
        ids.push(events[0].id);
        const r = await next();
        // The first write lands, but its acknowledgement is lost.
        if (ids.length === 1) throw new StoreUnavailableError('connection reset', null, true);
        return r;
      };
      await t.ledger.usage.flush();
      await t.ledger.usage.flush();
      expect(ids).to.have.length(2);
      expect(ids[1]).to.equal(ids[0]);
      expect(await usedEvents(key.id)).to.have.length(1);
      expect(await total(key.id)).to.equal(3);
      expect(t.ledger.usage.pendingCount).to.equal(0);
    });

    it('reads a version 1 ApiKeyUsed (one per presentation) as version 2', async () => {
      const { key } = await t.ledger.keys.create({ userId: owner.userId, name: 'ci' }, SYSTEM);
      const v1 = {
        type: 'ApiKeyUsed' as const,
        data: {
          keyId: key.id,
          count: 4,
          firstAt: t.clock.now().toISOString(),
          lastAt: t.clock.now().toISOString(),
          lastIp: null,
          lastUserAgent: null,
          presentation: 'url',
        },
      };
      const [envelope] = t.ledger.bus.envelope([v1 as unknown as ApiKeyUsed], SYSTEM, t.clock.now());
      await store.append(streams.apiKey(key.id), [
        { ...envelope!, metadata: { ...(envelope!.metadata as EventMetadata), schemaVersion: 1 } },
      ]);
      expect(await usedEvents(key.id)).to.deep.equal([{ ...v1.data, presentations: { url: 4 } }]);
      const again = await t.reopen();
      expect(again.read.key(key.id).useCount).to.equal(4);
    });
  });

  describe('expiry scheduling', () => {
    it('a restart reads no stream of a key already expired or revoked, and holds none of them', async () => {
      const settled: string[] = [];
      for (let i = 0; i < 30; i++)
        settled.push(
          (await t.ledger.keys.create({ userId: owner.userId, name: `ttl${i}`, expiresInSeconds: 60 }, SYSTEM)).key.id,
        );
      for (let i = 0; i < 10; i++) {
        const { key } = await t.ledger.keys.create(
          { userId: owner.userId, name: `rev${i}`, expiresInSeconds: 60 },
          SYSTEM,
        );
        await t.ledger.keys.revoke(key.id, null, SYSTEM);
        settled.push(key.id);
      }
      for (let i = 0; i < 10; i++) {
        const { key } = await t.ledger.keys.create({ userId: owner.userId, name: `rot${i}` }, SYSTEM);
        await t.ledger.keys.rotate(key.id, 30, SYSTEM);
        settled.push(key.id);
      }
      t.clock.advance(61);
      expect(await t.ledger.expiry.runDue()).to.equal(40); // 30 by TTL, 10 by rotation grace
      // One more key falls due while no process runs: the restart must expire it, and only read its stream.
      const due = await t.ledger.keys.create({ userId: owner.userId, name: 'due', expiresInSeconds: 60 }, SYSTEM);
      const live = await t.ledger.keys.create({ userId: owner.userId, name: 'live', expiresInSeconds: 3600 }, SYSTEM);
      await t.ledger.stop();
      t.clock.advance(61);

      const restarted = interceptedSqlite(t.file);
      const again = await t.reopen({ store: restarted });
      const keyReads = restarted.streamReads.filter((s) => s.startsWith('apikey-'));
      expect(keyReads).to.deep.equal([streams.apiKey(due.key.id)]);
      expect(again.verify(due.token).code).to.equal('EXPIRED');
      expect((await restarted.readStream(streams.apiKey(due.key.id))).map((e) => e.type)).to.include('ApiKeyExpired');
      // Only live keys with a deadline are held: the successors of the rotations (no expiry) and `live`.
      expect(again.expiry.pending).to.be.at.most(2);
      expect(again.verify(live.token).code).to.equal('VALID');
      for (const id of settled) expect(again.read.key(id).status).to.not.equal(KeyStatus.Active);
    });

    it('drops keys revoked before their time from the schedule as it runs', async () => {
      const keys: KeyView[] = [];
      for (let i = 0; i < 20; i++)
        keys.push(
          (await t.ledger.keys.create({ userId: owner.userId, name: `k${i}`, expiresInSeconds: 60 }, SYSTEM)).key,
        );
      expect(t.ledger.expiry.pending).to.equal(20);
      for (const k of keys.slice(0, 15)) await t.ledger.keys.revoke(k.id, null, SYSTEM);
      expect(t.ledger.expiry.pending).to.be.at.most(10);
      t.clock.advance(61);
      store.streamReads.length = 0;
      expect(await t.ledger.expiry.runDue()).to.equal(5);
      expect(store.streamReads.filter((s) => keys.slice(0, 15).some((k) => s === streams.apiKey(k.id)))).to.deep.equal(
        [],
      );
    });
  });
});
