// A role change that changes a key's effective scopes is published (io.token-ledger.apikey.restricted), the watcher
// keeps each key's latest scopes, and the offline verifier refuses what the owner's current role no longer allows.
import { expect } from 'chai';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT } from 'jose';
import type { StoredEvent } from '../../events/catalog.js';
import { createOfflineVerifier, type OfflineVerifierOptions } from '../../clients/offline-verifier.js';
import { REVOCATION_TYPES, type RevocationEvent } from '../../clients/protocol.js';
import {
  createRevocationWatcher,
  type RevocationWatcher,
  type WatcherCheck,
} from '../../clients/revocation-watcher.js';
import { revocationCloudEvents } from '../../projections/revocations/cloudevents.js';
import { toMessage } from '../../services/revocations/kafka-message.js';
import { RevocationIndex, type RevocationItem } from '../../projections/revocations/fanout.js';
import { keyCreatedEvent, storedEvents } from '../support/events.js';

let ev = storedEvents();

const created = (keyId: string, userId: string, workspaceId: string, scopes: string[] | null = null): StoredEvent =>
  keyCreatedEvent(ev, { keyId, userId, workspaceId, scopes, format: 'jwt', start: 'eyJh' });
const roleSet = (workspaceId: string, userId: string, role: string): StoredEvent =>
  ev('WorkspaceMemberRoleSet', { workspaceId, userId, role } as never, `workspace-${workspaceId}`);
const removed = (workspaceId: string, userId: string): StoredEvent =>
  ev('WorkspaceMemberRemoved', { workspaceId, userId }, `workspace-${workspaceId}`);
const revoked = (keyId: string): StoredEvent =>
  ev('ApiKeyRevoked', { keyId, reason: 'r', revokedBy: { type: 'user', id: 'usr_admin' } }, `apikey-${keyId}`);

const ALL = [
  'audit:export',
  'audit:read',
  'keys:create',
  'keys:manage',
  'keys:read',
  'keys:revoke',
  'keys:verify',
  'users:manage',
  'workspaces:manage',
];
const AUDITOR = ['audit:export', 'audit:read', 'keys:read'];
const MEMBER = ['keys:create', 'keys:read', 'keys:revoke', 'keys:verify'];

const brief = (items: RevocationItem[]): string[] =>
  items.map((i) => `${i.keyId}:${i.action}:${i.cause}:${i.scopes === undefined ? '-' : i.scopes.join(',')}`);

/** Applies every event; returns the CloudEvents, one list per ledger event. */
function run(idx: RevocationIndex, events: StoredEvent[]): RevocationEvent[][] {
  return events.map((e) => revocationCloudEvents(e, idx.apply(e)));
}

describe('unit: role changes in the revocation fan-out', () => {
  beforeEach(() => (ev = storedEvents()));

  it('narrows an unscoped key when its owner goes from admin to auditor, and widens it back', () => {
    const idx = new RevocationIndex();
    run(idx, [
      roleSet('ws_1', 'usr_owner', 'owner'),
      roleSet('ws_1', 'usr_1', 'admin'),
      created('key_a', 'usr_1', 'ws_1'),
    ]);
    const narrow = roleSet('ws_1', 'usr_1', 'auditor');
    const [ces] = run(idx, [narrow]);
    expect(ces).to.have.length(1);
    const ce = ces![0]!;
    expect(ce).to.include({
      id: `${narrow.metadata.eventId}:key_a`,
      type: REVOCATION_TYPES.restricted,
      subject: 'key_a',
      ledgercursor: String(narrow.position),
    });
    expect(ce.data).to.deep.equal({
      keyId: 'key_a',
      userId: 'usr_1',
      workspaceId: 'ws_1',
      action: 'restrict',
      cause: 'role_changed',
      terminal: false,
      reason: null,
      scopes: AUDITOR,
      ledgerEventId: narrow.metadata.eventId,
      ledgerEventType: 'WorkspaceMemberRoleSet',
      occurredAt: narrow.metadata.occurredAt,
    });
    // The revocations topic carries it too, keyed by the key id.
    const msg = toMessage('token-ledger.revocations', ce);
    expect(msg.key).to.equal('key_a');
    expect(msg.headers).to.include({ ce_type: REVOCATION_TYPES.restricted, ce_id: ce.id });

    const widen = roleSet('ws_1', 'usr_1', 'admin');
    const [back] = run(idx, [widen]);
    expect(back!.map((c) => [c.id, c.type, c.data.scopes])).to.deep.equal([
      [`${widen.metadata.eventId}:key_a`, REVOCATION_TYPES.restricted, ALL],
    ]);
  });

  it('publishes nothing when the effective set stays the same', () => {
    const idx = new RevocationIndex();
    const out = [
      roleSet('ws_1', 'usr_1', 'owner'),
      roleSet('ws_1', 'usr_2', 'admin'),
      created('key_owner', 'usr_1', 'ws_1'),
      created('key_read', 'usr_2', 'ws_1', ['keys:read']),
      roleSet('ws_1', 'usr_2', 'owner'), // a second owner, so the first can step down
      roleSet('ws_1', 'usr_1', 'admin'), // owner → admin: the same permissions
      roleSet('ws_1', 'usr_2', 'member'), // keys:read stays allowed
      roleSet('ws_1', 'usr_2', 'auditor'), // still allowed
    ].map((e) => brief(idx.apply(e)));
    expect(out).to.deep.equal([[], [], [], [], [], [], [], []]);
  });

  it('states each changed key once per role change, in creation order, and leaves dead keys and other workspaces alone', () => {
    const idx = new RevocationIndex();
    const out = [
      roleSet('ws_1', 'usr_1', 'owner'),
      roleSet('ws_2', 'usr_1', 'member'),
      created('key_1', 'usr_1', 'ws_1'),
      created('key_2', 'usr_1', 'ws_1', ['orders:read', 'keys:create', 'audit:read']),
      created('key_3', 'usr_1', 'ws_1'),
      created('key_4', 'usr_1', 'ws_2'),
      revoked('key_3'),
      roleSet('ws_1', 'usr_1', 'member'),
      roleSet('ws_1', 'usr_1', 'auditor'),
    ].map((e) => brief(idx.apply(e)));
    expect(out.slice(7)).to.deep.equal([
      // owner → member: key_2 loses audit:read (its other scopes stay); key_3 is revoked; key_4 lives in ws_2.
      [`key_1:restrict:role_changed:${MEMBER.join(',')}`, 'key_2:restrict:role_changed:keys:create,orders:read'],
      // member → auditor: application scopes and keys:create go, audit:read comes back.
      [`key_1:restrict:role_changed:${AUDITOR.join(',')}`, 'key_2:restrict:role_changed:audit:read'],
    ]);
  });

  it('keeps removal and re-adding as before; their items state the scopes under the role of the moment', () => {
    const idx = new RevocationIndex();
    const out = [
      roleSet('ws_1', 'usr_1', 'owner'),
      roleSet('ws_1', 'usr_2', 'admin'),
      created('key_a', 'usr_2', 'ws_1'),
      removed('ws_1', 'usr_2'),
      roleSet('ws_1', 'usr_2', 'admin'), // re-added with the old role
      removed('ws_1', 'usr_2'),
      roleSet('ws_1', 'usr_2', 'auditor'), // re-added with another role: reinstated, narrowed in the same item
      ev('UserDeactivated', { userId: 'usr_2', reason: 'leave' }, 'user-usr_2'),
      roleSet('ws_1', 'usr_2', 'member'), // a role change while suspended still tells the new set
      ev('UserReactivated', { userId: 'usr_2' }, 'user-usr_2'),
      revoked('key_a'),
      roleSet('ws_1', 'usr_2', 'admin'), // a dead key: nothing
    ].map((e) => brief(idx.apply(e)));
    expect(out.slice(3)).to.deep.equal([
      ['key_a:revoke:member_removed:'],
      [`key_a:reinstate:member_restored:${ALL.join(',')}`],
      ['key_a:revoke:member_removed:'],
      [`key_a:reinstate:member_restored:${AUDITOR.join(',')}`],
      [`key_a:revoke:owner_deactivated:${AUDITOR.join(',')}`],
      [`key_a:restrict:role_changed:${MEMBER.join(',')}`],
      [`key_a:reinstate:owner_reactivated:${MEMBER.join(',')}`],
      ['key_a:revoke:revoked:-'],
      [],
    ]);
  });

  it('leaves terminal items as they were: no scopes field', () => {
    const idx = new RevocationIndex();
    const events = [roleSet('ws_1', 'usr_1', 'owner'), created('key_a', 'usr_1', 'ws_1'), revoked('key_a')];
    const [r] = run(idx, events)[2]!;
    expect(Object.keys(r!.data)).to.deep.equal([
      'keyId',
      'userId',
      'workspaceId',
      'action',
      'cause',
      'terminal',
      'reason',
      'ledgerEventId',
      'ledgerEventType',
      'occurredAt',
    ]);
  });

  it('reads a role it does not know as no membership: the keys are suspended, never given scopes', () => {
    const idx = new RevocationIndex();
    const out = [
      roleSet('ws_1', 'usr_1', 'admin'),
      created('key_a', 'usr_1', 'ws_1'),
      roleSet('ws_1', 'usr_1', 'superuser'),
      roleSet('ws_1', 'usr_1', 'superuser'),
      roleSet('ws_1', 'usr_1', 'member'),
    ].map((e) => brief(idx.apply(e)));
    expect(out.slice(2)).to.deep.equal([
      ['key_a:revoke:member_removed:'],
      [],
      [`key_a:reinstate:member_restored:${MEMBER.join(',')}`],
    ]);
  });
});

/** A fake fetch serving one SSE stream: the given events, then `: caught-up`, then silence until aborted. */
function sseFetch(events: RevocationEvent[]): typeof fetch {
  return async (_url: string | URL | Request, init?: RequestInit) => {
    const text =
      events.map((e) => `id: ${e.ledgercursor}\ndata: ${JSON.stringify(e)}\n\n`).join('') + ': caught-up\n\n';
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        init?.signal?.addEventListener('abort', () => controller.error(new Error('aborted')), { once: true });
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}

function feedOf(events: StoredEvent[]): RevocationEvent[] {
  const idx = new RevocationIndex();
  return events.flatMap((e) => revocationCloudEvents(e, idx.apply(e)));
}

describe('unit: the watcher keeps each key’s latest scopes', () => {
  beforeEach(() => (ev = storedEvents()));

  it('applies restricted events from the feed, snapshots them, resumes from the snapshot, and drops them when the key dies', async () => {
    const feed = feedOf([
      roleSet('ws_1', 'usr_1', 'owner'),
      roleSet('ws_1', 'usr_2', 'admin'),
      created('key_a', 'usr_2', 'ws_1'),
      created('key_b', 'usr_2', 'ws_1'),
      created('key_c', 'usr_1', 'ws_1'),
      roleSet('ws_1', 'usr_2', 'auditor'),
      revoked('key_b'),
    ]);
    expect(feed.map((e) => `${e.subject}:${e.type}`)).to.deep.equal([
      `key_a:${REVOCATION_TYPES.restricted}`,
      `key_b:${REVOCATION_TYPES.restricted}`,
      `key_b:${REVOCATION_TYPES.revoked}`,
    ]);
    const w = createRevocationWatcher({ url: 'http://ledger.invalid', fetch: sseFetch(feed) });
    let resumed: RevocationWatcher | null = null;
    try {
      await w.ready;
      expect(w.restrictionOf('key_a')).to.deep.equal(AUDITOR);
      expect(w.restrictionOf('key_b')).to.equal(null); // revoked: the terminal event dropped it
      expect(w.restrictionOf('key_c')).to.equal(null); // never restricted: its JWT claim stands
      expect(w.isRevoked('key_a')).to.equal(false); // restricted, not revoked
      expect(w.isRevoked('key_b')).to.equal(true);
      const snap = w.snapshot()!;
      expect(snap).to.deep.equal({
        cursor: feed[2]!.ledgercursor,
        revoked: ['key_b'],
        suspended: [],
        restrictions: { key_a: AUDITOR },
      });

      resumed = createRevocationWatcher({
        url: 'http://ledger.invalid',
        fetch: sseFetch([]),
        initialState: JSON.parse(JSON.stringify(snap)),
      });
      await resumed.ready;
      expect(resumed.restrictionOf('key_a')).to.deep.equal(AUDITOR);
      // An old snapshot without restrictions is still accepted.
      const old = createRevocationWatcher({
        url: 'http://ledger.invalid',
        fetch: sseFetch([]),
        initialState: { cursor: '5', revoked: [], suspended: [] },
      });
      await old.close();
      expect(() =>
        createRevocationWatcher({
          url: 'http://x.invalid',
          initialState: { cursor: '5', revoked: [], suspended: [], restrictions: { k: 'keys:read' as never } },
        }),
      ).to.throw(TypeError);
    } finally {
      await w.close();
      await resumed?.close();
    }
  });

  it('keeps a suspended key suspended through a restriction, and fails closed on a restriction without scopes', async () => {
    const feed = feedOf([
      roleSet('ws_1', 'usr_1', 'admin'),
      created('key_a', 'usr_1', 'ws_1'),
      created('key_b', 'usr_1', 'ws_1'),
      ev('UserDeactivated', { userId: 'usr_1', reason: null }, 'user-usr_1'),
      roleSet('ws_1', 'usr_1', 'member'),
    ]);
    const bad = {
      ...feed[feed.length - 1]!,
      id: 'x',
      subject: 'key_b',
      ledgercursor: '99',
      data: { ...feed[feed.length - 1]!.data, keyId: 'key_b' },
    };
    delete (bad.data as { scopes?: unknown }).scopes;
    const w = createRevocationWatcher({ url: 'http://ledger.invalid', fetch: sseFetch([...feed, bad]) });
    try {
      await w.ready;
      expect(w.isKnownRevoked('key_a')).to.equal(true);
      expect(w.restrictionOf('key_a')).to.deep.equal(MEMBER);
      expect(w.restrictionOf('key_b')).to.deep.equal([]);
    } finally {
      await w.close();
    }
  });
});

describe('unit: the offline verifier honours restrictions', () => {
  let server: Server;
  let jwksUrl: string;
  let privateKey: KeyObject;
  let otherKey: KeyObject;

  before(async () => {
    const pair = generateKeyPairSync('ed25519');
    privateKey = pair.privateKey;
    otherKey = generateKeyPairSync('ed25519').privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' };
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const sign = (keyId: string, scope: string, key: KeyObject = privateKey): Promise<string> =>
    new SignJWT({ scope, ws: 'ws_1' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'key+jwt', kid: 'k1' })
      .setIssuer('token-ledger')
      .setAudience('token-ledger-api')
      .setSubject('usr_1')
      .setJti(keyId)
      .setIssuedAt()
      .sign(key);

  const fresh = { stale: false, fresh: true } as WatcherCheck;
  const verifierWith = (watcher: OfflineVerifierOptions['watcher']) =>
    createOfflineVerifier({ jwksUrl, issuer: 'token-ledger', audience: 'token-ledger-api', watcher });

  it('intersects the scope claim with the restriction and refuses scopes outside it', async () => {
    const restrictions = new Map<string, readonly string[]>([['key_a', AUDITOR]]);
    const v = verifierWith({
      check: () => fresh,
      isRevoked: () => false,
      restrictionOf: (id) => restrictions.get(id) ?? null,
    });
    const token = await sign('key_a', ALL.join(' '));
    const narrowed = await v.verify(token, { scopes: ['keys:create'] });
    expect(narrowed).to.include({ valid: false, code: 'INSUFFICIENT_SCOPE', keyId: 'key_a' });
    expect(narrowed.scopes).to.deep.equal(AUDITOR);
    const ok = await v.verify(token, { scopes: ['audit:read', 'keys:read'] });
    expect(ok).to.include({ valid: true, code: 'VALID' });
    expect(ok.scopes).to.deep.equal(AUDITOR);
    // A widened restriction never grants more than the claim.
    restrictions.set('key_b', ALL);
    const small = await sign('key_b', 'keys:read');
    expect((await v.verify(small, { scopes: ['keys:create'] })).code).to.equal('INSUFFICIENT_SCOPE');
    expect((await v.verify(small)).scopes).to.deep.equal(['keys:read']);
    // Without a restriction the claim decides, as before; a bad signature is still INVALID.
    const other = await sign('key_c', 'keys:create keys:read');
    expect(await v.verify(other, { scopes: ['keys:create'] })).to.deep.include({
      code: 'VALID',
      scopes: ['keys:create', 'keys:read'],
    });
    expect((await v.verify(await sign('key_a', 'keys:read', otherKey))).code).to.equal('INVALID');
  });

  it('accepts an old watcher stand-in without restrictionOf (the claim alone decides)', async () => {
    const v = verifierWith({ check: () => fresh, isRevoked: () => false });
    expect((await v.verify(await sign('key_a', 'keys:create'), { scopes: ['keys:create'] })).code).to.equal('VALID');
  });

  it('with a real watcher: an admin demoted to auditor loses keys:create offline, and gets it back when promoted', async () => {
    ev = storedEvents();
    const before = [roleSet('ws_1', 'usr_1', 'admin'), created('key_a', 'usr_1', 'ws_1')];
    const demoted = [...before, roleSet('ws_1', 'usr_1', 'auditor')];
    const token = await sign('key_a', ALL.join(' '));
    for (const [events, expected] of [
      [before, 'VALID'],
      [demoted, 'INSUFFICIENT_SCOPE'],
      [[...demoted, roleSet('ws_1', 'usr_1', 'admin')], 'VALID'],
    ] as const) {
      const w = createRevocationWatcher({ url: 'http://ledger.invalid', fetch: sseFetch(feedOf([...events])) });
      try {
        await w.ready;
        expect((await verifierWith(w).verify(token, { scopes: ['keys:create'] })).code).to.equal(expected);
        expect((await verifierWith(w).verify(token, { scopes: ['audit:read'] })).code).to.equal('VALID');
      } finally {
        await w.close();
      }
    }
  });
});
