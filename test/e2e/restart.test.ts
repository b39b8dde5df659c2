// A restart rebuilds the read model from the log (or a snapshot and the log after it): revoked stays revoked, valid
// stays valid, sessions survive.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { feedSnapshotFile, snapshotFile } from '../../services/snapshots/snapshot-file.js';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import { memoryLogger, startTestServer } from '../support/server.js';

describe('e2e: restart', () => {
  it('revoked stays revoked, valid stays valid, and logged-out sessions stay ended', async () => {
    let s = await startTestServer();
    try {
      const session = await s.login();
      const ended = await s.login();
      const a = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'a' } })).body;
      const b = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'b', format: 'jwt' } })).body;
      expect(
        (await s.request('POST', `/v1/keys/${a.id}/revoke`, { token: session, body: { reason: 'rotated out' } }))
          .status,
      ).to.equal(200);
      expect((await s.request('POST', '/v1/auth/logout', { token: ended })).status).to.equal(204);
      await s.request('GET', '/v1/auth/me', { token: b.token });
      s = await s.restart();
      expect((await s.request('GET', '/v1/auth/me', { token: a.token })).status).to.equal(401);
      expect((await s.request('GET', '/v1/auth/me', { token: b.token })).status).to.equal(200);
      expect((await s.request('GET', '/v1/auth/me', { token: session })).status).to.equal(200);
      expect((await s.request('GET', '/v1/auth/me', { token: ended })).status).to.equal(401);
      const key = await s.request('GET', `/v1/keys/${b.id}`, { token: session });
      expect(key.body.useCount).to.be.at.least(1); // use flushed on shutdown
    } finally {
      await s.dispose();
    }
  });

  it('starts from the read-model and revocation-feed snapshots and the log after them; a corrupt one is ignored with a warning', async () => {
    const mem = memoryLogger();
    const lines = (msg: string): Array<Record<string, unknown>> =>
      mem
        .text()
        .split('\n')
        .filter((l) => l.includes(msg))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    let s = await startTestServer({}, [revocationsPlugin()], undefined, {}, mem.logger);
    try {
      const session = await s.login();
      const a = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'a' } })).body;
      const b = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'b' } })).body;
      await s.request('POST', `/v1/keys/${a.id}/revoke`, { token: session, body: { reason: 'gone' } });
      const snap = await s.running.snapshots.snapshotNow();
      // The tail, after the snapshot: one more key, and b revoked.
      const c = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'c' } })).body;
      await s.request('POST', `/v1/keys/${b.id}/revoke`, { token: session, body: { reason: 'gone' } });
      s = await s.restart();
      const restored = lines('read model restored from snapshot');
      expect(restored.map((l) => [l.from, l.position])).to.deep.equal([
        [snap.position, s.running.ledger.read.position],
      ]);
      expect(restored[0]!.position).to.be.greaterThan(snap.position);
      const codes = async (): Promise<number[]> =>
        Promise.all([a, b, c].map(async (k) => (await s.request('GET', '/v1/auth/me', { token: k.token })).status));
      expect(await codes()).to.deep.equal([401, 401, 200]);
      expect((await s.request('GET', '/v1/auth/me', { token: session })).status).to.equal(200);
      // The revocation feed restarted from its own snapshot (same pass) and the tail: both revocations, in order.
      const feedRestored = lines('revocation feed restored from snapshot');
      expect(feedRestored.map((l) => [l.from, l.position])).to.deep.equal([
        [snap.feed.position, restored[0]!.position],
      ]);
      const feed = async (): Promise<string[]> =>
        (
          (await s.request('GET', '/v1/revocations', { token: session })).body as { items: Array<{ subject: string }> }
        ).items.map((i) => i.subject);
      expect(await feed()).to.deep.equal([a.id, b.id]);

      await s.stop();
      writeFileSync(snapshotFile(s.dataDir), '{"format":"token-ledger read-model snapshot"');
      s = await s.restart();
      const warned = lines('ignoring the read-model snapshot');
      expect(warned.map((l) => [l.level, l.reason])).to.deep.equal([[40, 'corrupt']]);
      expect(lines('read model restored from snapshot')).to.have.length(1); // only the first restart
      expect(await codes()).to.deep.equal([401, 401, 200]);

      // A corrupt feed snapshot: ignored with a warning, the feed replays the log and serves the same items.
      await s.stop();
      writeFileSync(feedSnapshotFile(s.dataDir), 'garbage');
      s = await s.restart();
      expect(lines('ignoring the revocation-feed snapshot').map((l) => [l.level, l.reason])).to.deep.equal([
        [40, 'corrupt'],
      ]);
      expect(lines('revocation feed restored from snapshot')).to.have.length(2); // the second restart still had it
      expect(await feed()).to.deep.equal([a.id, b.id]);
    } finally {
      await s.dispose();
    }
  });
});
