// HTTP revocation feeds against a real server: paged list, SSE with Last-Event-ID resume and heartbeats,
// per-key fan-out, permissions, a broken feed failing closed, and the subscriber client (watcher + offline JWT
// verification, fail closed, resume from a snapshot).
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import {
  createOfflineVerifier,
  createRevocationWatcher,
  readEventStream,
  REVOCATION_TYPES,
  type RevocationEvent,
} from '../../clients/index.js';
import { SYSTEM } from '../../services/ledger.js';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import { ADMIN_EMAIL, startTestServer, type TestServer } from '../support/server.js';
import { waitUntil } from '../support/async.js';

interface StreamReader {
  events: Array<{ id: string | null; event: string; ev: RevocationEvent }>;
  comments: string[];
  done: Promise<void>;
  close(): Promise<void>;
}

function openStream(url: string, headers: Record<string, string>): StreamReader {
  const ac = new AbortController();
  const r: StreamReader = {
    events: [],
    comments: [],
    done: Promise.resolve(),
    close: async () => {
      ac.abort();
      await r.done.catch(() => undefined);
    },
  };
  r.done = readEventStream(
    url,
    { headers, signal: ac.signal },
    {
      onEvent: (e) => r.events.push({ id: e.id, event: e.event, ev: JSON.parse(e.data) as RevocationEvent }),
      onComment: (c) => r.comments.push(c),
    },
  ).catch((err: unknown) => {
    if (!ac.signal.aborted) throw err;
  });
  return r;
}

const SECRET_WORDS = ['"digest"', '"sealed"', '"passwordHash"'];

describe('e2e: revocation feeds (HTTP list + SSE)', function () {
  this.timeout(30_000);
  let s: TestServer;
  let admin: string;

  beforeEach(async () => {
    s = await startTestServer({}, [revocationsPlugin({ heartbeatMs: 100, retryMs: 50 })]);
    admin = await s.login();
  });
  afterEach(async () => {
    await s.dispose();
  });

  async function createKey(body: Record<string, unknown> = {}, token = admin): Promise<{ id: string; token: string }> {
    const r = await s.request('POST', '/v1/keys', { token, body: { name: 'k', ...body } });
    expect(r.status, r.text).to.equal(201);
    return r.body;
  }

  async function revoke(id: string, token = admin): Promise<void> {
    const r = await s.request('POST', `/v1/keys/${id}/revoke`, { token, body: { reason: 'test' } });
    expect(r.status, r.text).to.equal(200);
  }

  it('lists revocations in pages with a position cursor, hasMore and nextCursor, and no secrets', async () => {
    const keys = [];
    for (let i = 0; i < 5; i++) keys.push(await createKey({ retrievable: true }));
    for (const k of keys) await revoke(k.id);
    const first = await s.request('GET', '/v1/revocations?limit=2', { token: admin });
    expect(first.status, first.text).to.equal(200);
    expect(first.body.items).to.have.length(2);
    expect(first.body.hasMore).to.equal(true);
    const ev = first.body.items[0] as RevocationEvent;
    expect(ev).to.include({
      specversion: '1.0',
      type: REVOCATION_TYPES.revoked,
      subject: keys[0]!.id,
      source: '/token-ledger',
      datacontenttype: 'application/json',
    });
    expect(ev.data).to.include({
      keyId: keys[0]!.id,
      action: 'revoke',
      cause: 'revoked',
      terminal: true,
      reason: 'test',
    });
    expect(ev.ledgercursor).to.equal(String(ev.ledgerposition));
    expect(first.body.nextCursor).to.equal(first.body.items[1].ledgercursor);

    const all: RevocationEvent[] = [...first.body.items];
    let cursor = first.body.nextCursor as string;
    for (;;) {
      const p = await s.request('GET', `/v1/revocations?after=${cursor}&limit=2`, { token: admin });
      all.push(...p.body.items);
      cursor = p.body.nextCursor;
      if (!p.body.hasMore) break;
    }
    expect(all.map((e) => e.subject)).to.deep.equal(keys.map((k) => k.id));
    // The cursor moves past the last item and stays put when nothing new happened.
    const empty = await s.request('GET', `/v1/revocations?after=${cursor}`, { token: admin });
    expect(empty.body).to.deep.equal({ items: [], nextCursor: cursor, hasMore: false });
    for (const w of SECRET_WORDS) expect(first.text).not.to.include(w);
    for (const k of keys) expect(JSON.stringify(all)).not.to.include(k.token);

    expect((await s.request('GET', '/v1/revocations?after=abc', { token: admin })).status).to.equal(400);
    expect((await s.request('GET', '/v1/revocations?limit=0', { token: admin })).status).to.equal(400);
    expect((await s.request('GET', '/v1/revocations')).status).to.equal(401);
  });

  it('needs keys:verify or audit:read, and accepts ?api_token= (EventSource cannot send headers)', async () => {
    const verifier = await createKey({ scopes: ['keys:verify'] });
    const auditor = await createKey({ scopes: ['audit:read'] });
    const other = await createKey({ scopes: ['keys:read'] });
    expect((await s.request('GET', '/v1/revocations', { token: verifier.token })).status).to.equal(200);
    expect((await s.request('GET', '/v1/revocations', { token: auditor.token })).status).to.equal(200);
    const denied = await s.request('GET', '/v1/revocations', { token: other.token });
    expect(denied.status).to.equal(403);
    expect(denied.body.errors[0].code).to.equal('permission_denied');
    expect((await s.request('GET', `/v1/revocations?api_token=${verifier.token}`)).status).to.equal(200);
    expect((await s.request('GET', `/v1/revocations/stream?api_token=${other.token}`)).status).to.equal(403);
    // The stream with a URL token: opens, then ends once that key is revoked.
    const stream = openStream(`${s.url}/v1/revocations/stream?api_token=${verifier.token}`, {});
    await waitUntil(() => stream.comments.some((c) => c.startsWith('caught-up')), 5000, 'the stream to catch up');
    await revoke(verifier.id);
    await stream.done; // ended by the server: a revoked key does not keep listening
  });

  it('SSE: each event id is its cursor, heartbeats flow, and a reconnect with Last-Event-ID misses nothing', async () => {
    const feedKey = await createKey({ scopes: ['keys:verify'] });
    const auth = { authorization: `Bearer ${feedKey.token}` };
    const keys = [];
    for (let i = 0; i < 6; i++) keys.push(await createKey());
    await revoke(keys[0]!.id);
    await revoke(keys[1]!.id);

    const a = openStream(`${s.url}/v1/revocations/stream`, auth);
    await waitUntil(() => a.events.length === 2, 5000, 'the backlog');
    await revoke(keys[2]!.id);
    await waitUntil(() => a.events.length === 3, 5000, 'a live event');
    await waitUntil(() => a.comments.filter((c) => c.startsWith('heartbeat')).length >= 2, 5000, 'two heartbeats');
    for (const e of a.events) expect(e.id).to.equal(e.ev.ledgercursor);
    const lastSeen = a.events[a.events.length - 1]!.id!;
    await a.close();

    // While disconnected: more revocations, including a fan-out (owner deactivated: one event per live key).
    await revoke(keys[3]!.id);
    const ledger = s.running.ledger;
    // A member of the feed key's own workspace: a key sees only its workspace's items.
    const ws = ledger.read.userByEmail(ADMIN_EMAIL)!.defaultWorkspaceId!;
    const u = await ledger.users.register(
      { email: 'fan@example.com', name: 'Fan', password: 'correct horse battery staple', workspaceId: ws },
      SYSTEM,
    );
    const fan = [];
    for (let i = 0; i < 3; i++)
      fan.push((await ledger.keys.create({ userId: u.id, workspaceId: ws, name: `f${i}` }, SYSTEM)).key.id);
    await ledger.users.deactivate(u.id, 'left', SYSTEM);

    const b = openStream(`${s.url}/v1/revocations/stream`, { ...auth, 'last-event-id': lastSeen });
    await waitUntil(() => b.events.length === 4, 5000, 'the events missed while disconnected');
    expect(b.events.map((e) => e.ev.subject)).to.deep.equal([keys[3]!.id, ...fan]);
    const fanEvents = b.events.slice(1);
    expect(fanEvents.map((e) => e.ev.type)).to.deep.equal([
      REVOCATION_TYPES.suspended,
      REVOCATION_TYPES.suspended,
      REVOCATION_TYPES.suspended,
    ]);
    expect(new Set(fanEvents.map((e) => e.ev.ledgerposition)).size).to.equal(1);
    expect(fanEvents.map((e) => e.id)).to.deep.equal([
      `${fanEvents[0]!.ev.ledgerposition}.0`,
      `${fanEvents[0]!.ev.ledgerposition}.1`,
      String(fanEvents[0]!.ev.ledgerposition),
    ]);
    expect(fanEvents[0]!.ev.id).to.equal(`${fanEvents[0]!.ev.data.ledgerEventId}:${fan[0]}`);
    await b.close();

    // Resuming in the middle of a fan-out delivers the rest of it, and nothing twice.
    const c = openStream(`${s.url}/v1/revocations/stream`, { ...auth, 'last-event-id': fanEvents[0]!.id! });
    await waitUntil(() => c.events.length === 2, 5000, 'the rest of the fan-out');
    expect(c.events.map((e) => e.ev.subject)).to.deep.equal(fan.slice(1));
    await c.close();
    expect(
      (await s.request('GET', '/v1/revocations/stream', { headers: { ...auth, 'last-event-id': 'x' } })).status,
    ).to.equal(400);
  });

  it('server shutdown ends open streams first, instead of waiting out the shutdown deadline', async () => {
    const feedKey = await createKey({ scopes: ['keys:verify'] });
    const streams = [0, 1].map(() =>
      openStream(`${s.url}/v1/revocations/stream`, { authorization: `Bearer ${feedKey.token}` }),
    );
    for (const st of streams)
      await waitUntil(() => st.comments.some((c) => c.startsWith('caught-up')), 5000, 'the streams to catch up');
    expect((await s.request('GET', '/metrics')).text).to.match(/^ledger_revocation_streams 2$/m);
    const t0 = Date.now();
    await s.stop();
    expect(Date.now() - t0, 'stop() duration (the deadline is 10 s)').to.be.below(2000);
    await Promise.all(streams.map((st) => st.done)); // ended by the server
    for (const st of streams) expect(st.events.filter((e) => e.event === 'error')).to.deep.equal([]);
  });

  it('fans out member removal per key in that workspace, and reinstates on re-adding', async () => {
    const ledger = s.running.ledger;
    const u = await ledger.users.register(
      { email: 'm@example.com', name: 'M', password: 'correct horse battery staple' },
      SYSTEM,
    );
    const ws1 = await ledger.workspaces.create('One', u.id, SYSTEM);
    const boss = await ledger.users.register(
      { email: 'boss@example.com', name: 'B', password: 'correct horse battery staple' },
      SYSTEM,
    );
    const ws2 = await ledger.workspaces.create('Two', boss.id, SYSTEM);
    await ledger.workspaces.setMemberRole(ws2.id, u.id, 'member', SYSTEM);
    const k1 = (await ledger.keys.create({ userId: u.id, workspaceId: ws1.id, name: 'a' }, SYSTEM)).key.id;
    const k2 = (await ledger.keys.create({ userId: u.id, workspaceId: ws2.id, name: 'b' }, SYSTEM)).key.id;
    const k3 = (await ledger.keys.create({ userId: u.id, workspaceId: ws2.id, name: 'c' }, SYSTEM)).key.id;
    await ledger.keys.revoke(k3, null, SYSTEM);
    await ledger.workspaces.removeMember(ws2.id, u.id, SYSTEM);
    await ledger.workspaces.setMemberRole(ws2.id, u.id, 'member', SYSTEM);
    const p = await s.request('GET', '/v1/revocations', { token: admin });
    const items = (p.body.items as RevocationEvent[]).map((e) => [e.subject, e.type, e.data.cause]);
    expect(items).to.deep.equal([
      [k3, REVOCATION_TYPES.revoked, 'revoked'],
      [k2, REVOCATION_TYPES.suspended, 'member_removed'],
      [k2, REVOCATION_TYPES.reinstated, 'member_restored'],
    ]);
    void k1;
  });

  it('watcher + offline verifier: accepts a JWT key, refuses it once revoked, and fails closed when the feed goes silent', async () => {
    const feedKey = await createKey({ scopes: ['keys:verify'] });
    const jwtKey = await createKey({ format: 'jwt', scopes: ['orders:read'] });
    const other = await createKey({ format: 'jwt' });
    const watcher = createRevocationWatcher({
      url: s.url,
      token: feedKey.token,
      staleAfterMs: 600,
      reconnect: { initialMs: 20, maxMs: 100 },
    });
    try {
      await watcher.ready;
      const verifier = createOfflineVerifier({
        jwksUrl: `${s.url}/.well-known/jwks.json`,
        issuer: 'token-ledger',
        audience: 'token-ledger-api',
        watcher,
      });
      const ok = await verifier.verify(jwtKey.token, { scopes: ['orders:read'] });
      expect(ok).to.include({ valid: true, code: 'VALID', keyId: jwtKey.id });
      expect((await verifier.verify(jwtKey.token, { scopes: ['orders:write'] })).code).to.equal('INSUFFICIENT_SCOPE');
      expect((await verifier.verify(feedKey.token)).code).to.equal('MALFORMED'); // opaque keys are verified by the ledger
      expect((await verifier.verify(admin)).code).to.equal('INVALID'); // a session JWT is not a key

      await revoke(jwtKey.id);
      await waitUntil(() => watcher.isKnownRevoked(jwtKey.id), 5000, 'the watcher to learn of the revocation');
      expect(watcher.cursor).to.match(/^\d+$/);
      expect((await verifier.verify(jwtKey.token)).code).to.equal('REVOKED');
      expect((await verifier.verify(other.token)).code).to.equal('VALID');
      // Heartbeats keep an idle watcher fresh well past its staleness bound.
      const t0 = Date.now();
      await waitUntil(() => Date.now() - t0 > 1000, 3000, 'an idle second');
      expect(watcher.check().fresh).to.equal(true);

      // The ledger goes away: no events, no heartbeats. After the bound, every key is refused.
      await s.stop();
      await waitUntil(() => watcher.check().stale, 5000, 'the watcher to go stale');
      expect(watcher.isRevoked(other.id)).to.equal(true);
      expect((await verifier.verify(other.token)).code).to.equal('STALE');
    } finally {
      await watcher.close();
    }
  });

  it('a feed that stopped following the log ends its streams with an error event, stops heartbeating, and refuses new readers (503)', async () => {
    const feedKey = await createKey({ scopes: ['keys:verify'] });
    const auth = { authorization: `Bearer ${feedKey.token}` };
    const watcher = createRevocationWatcher({
      url: s.url,
      token: feedKey.token,
      staleAfterMs: 10_000,
      reconnect: { initialMs: 20, maxMs: 100 },
    });
    const stream = openStream(`${s.url}/v1/revocations/stream`, auth);
    try {
      await watcher.ready;
      await waitUntil(() => stream.comments.some((c) => c.startsWith('caught-up')), 5000, 'the stream to catch up');
      // A record the feed cannot read (no metadata) makes its log subscription fail.
      await s.running.ledger.store.append('apikey-broken', [
        { id: randomUUID(), type: 'ApiKeyRevoked', data: { keyId: 'key_broken' }, metadata: null },
      ]);
      await stream.done; // ended by the server
      const last = stream.events[stream.events.length - 1]!;
      expect(last.event).to.equal('error');
      expect(last.ev).to.deep.include({ code: 'feed_unavailable' });
      // Fail closed at once, well before the 10 s staleness bound.
      await waitUntil(() => watcher.check().stale, 2000, 'the watcher to fail closed');
      expect(watcher.isRevoked(feedKey.id)).to.equal(true);

      const list = await s.request('GET', '/v1/revocations', { token: feedKey.token });
      expect(list.status).to.equal(503);
      expect(list.body).to.deep.include({ type: 'server_error' });
      expect(list.body.errors[0].code).to.equal('feed_unavailable');
      const again = await s.request('GET', '/v1/revocations/stream', { token: feedKey.token });
      expect(again.status).to.equal(503);
      expect(again.body.errors[0].code).to.equal('feed_unavailable');
      const ready = await s.request('GET', '/readyz');
      expect(ready.body.checks.find((c: { name: string }) => c.name === 'revocation_feed').ok).to.equal(false);
      // Reconnects keep being refused: the watcher stays closed.
      expect(watcher.check().stale).to.equal(true);
    } finally {
      await stream.close();
      await watcher.close();
    }
  });

  it('a watcher reads the whole feed by default, and resumes from a persisted snapshot (cursor and set) without re-reading', async () => {
    const feedKey = await createKey({ scopes: ['keys:verify'] });
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(await createKey());
    await revoke(keys[0]!.id);
    await revoke(keys[1]!.id);
    const opts = { url: s.url, token: feedKey.token, staleAfterMs: 5000, reconnect: { initialMs: 20, maxMs: 100 } };
    const first = createRevocationWatcher(opts);
    let snap;
    try {
      await first.ready;
      expect(first.isKnownRevoked(keys[0]!.id) && first.isKnownRevoked(keys[1]!.id)).to.equal(true); // history, from the beginning
      snap = first.snapshot()!;
      expect(snap.revoked).to.have.members([keys[0]!.id, keys[1]!.id]);
      expect(snap.cursor).to.equal(first.cursor);
    } finally {
      await first.close();
    }
    await revoke(keys[2]!.id);
    const applied: string[] = [];
    const resumed = createRevocationWatcher({
      ...opts,
      initialState: JSON.parse(JSON.stringify(snap)),
      onEvent: (ev) => applied.push(ev.subject),
    });
    try {
      await resumed.ready;
      expect(applied).to.deep.equal([keys[2]!.id]); // only what came after the snapshot's cursor
      for (const k of keys) expect(resumed.isRevoked(k.id), k.id).to.equal(true);
      expect(resumed.isRevoked(feedKey.id)).to.equal(false);
    } finally {
      await resumed.close();
    }
    expect(() =>
      createRevocationWatcher({ ...opts, initialState: { cursor: 'x', revoked: [], suspended: [] } }),
    ).to.throw(TypeError);
    expect(() => createRevocationWatcher({ kafka: { brokers: ['127.0.0.1:1'] }, initialState: snap })).to.throw(
      TypeError,
    );
  });
});
