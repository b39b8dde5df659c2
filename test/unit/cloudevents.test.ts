// CloudEvents mapping, secret stripping, the per-key fan-out index, cursors and the SSE parser.
import { expect } from 'chai';
import fc from 'fast-check';
import type { StoredEvent } from '../../events/catalog.js';
import {
  CLOUDEVENTS_CONTENT_TYPE,
  formatCursor,
  HEARTBEAT_KEY,
  HEARTBEAT_TYPE,
  isAfter,
  parseCursor,
  REVOCATION_TYPES,
} from '../../clients/protocol.js';
import { SseParser, type SseEvent } from '../../clients/sse.js';
import {
  aggregateId,
  heartbeatCloudEvent,
  ledgerCloudEvent,
  revocationCloudEvents,
  stripSecrets,
} from '../../projections/revocations/cloudevents.js';
import { cloudEventHeaders, toMessage } from '../../services/revocations/kafka-message.js';
import { RevocationIndex } from '../../projections/revocations/fanout.js';
import { keyCreatedEvent, storedEvents } from '../support/events.js';

let ev = storedEvents();

const created = (keyId: string, userId: string, workspaceId: string): StoredEvent =>
  keyCreatedEvent(ev, {
    keyId,
    userId,
    workspaceId,
    sealed: { alg: 'A256GCM', kid: 'k', iv: 'iv', ct: 'ct', tag: 'tag' },
  });

describe('unit: CloudEvents mapping', () => {
  it('strips digests, sealed secrets and password hashes, at any depth', () => {
    expect(stripSecrets({ a: 1, digest: 'x', nested: [{ sealed: {}, passwordHash: 'h', keep: true }] })).to.deep.equal({
      a: 1,
      nested: [{ keep: true }],
    });
  });

  it('hands back data that holds no secret as it is, and agrees with a plain stripping copy on generated data', () => {
    const used = { keyId: 'key_1', count: 3, presentations: { bearer: 3 }, lastIp: '10.0.0.1' };
    expect(stripSecrets(used)).to.equal(used);
    const strip = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(strip)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([k]) => !['digest', 'sealed', 'passwordHash', 'token', 'secret', 'password'].includes(k))
                .map(([k, x]) => [k, strip(x)]),
            )
          : v;
    const parsed = JSON.parse('{"__proto__":{"keyId":"k"},"digest":"d","n":1}') as unknown;
    expect(JSON.stringify(stripSecrets(parsed))).to.equal('{"__proto__":{"keyId":"k"},"n":1}');
    const key = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.constantFrom('digest', 'sealed', 'token', 'secret', 'keyId', '__proto__'),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 0 }),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(key, tie('node'), { maxKeys: 5 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        expect(stripSecrets(v)).to.deep.equal(strip(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('maps a ledger event to a structured CloudEvent keyed by its aggregate', () => {
    const e = created('key_1', 'usr_1', 'ws_1');
    const ce = ledgerCloudEvent(e);
    expect(ce).to.include({
      specversion: '1.0',
      id: e.metadata.eventId,
      type: 'io.token-ledger.ApiKeyCreated',
      subject: 'key_1',
      source: '/token-ledger',
      datacontenttype: 'application/json',
      ledgerposition: e.position,
      ledgeractor: 'user:usr_admin',
    });
    expect(ce.time).to.equal(e.metadata.occurredAt);
    expect(ce.data).to.not.have.any.keys('digest', 'sealed');
    expect(ce.data).to.include({ keyId: 'key_1', start: 'tl_abcd' });
    const msg = toMessage('t', ce);
    expect(msg.key).to.equal('key_1');
    expect(msg.value).not.to.match(/digest|sealed|"ct"/);
    expect(msg.headers).to.include({
      ce_id: e.metadata.eventId,
      ce_type: 'io.token-ledger.ApiKeyCreated',
      ce_subject: 'key_1',
      ce_specversion: '1.0',
      ce_ledgerposition: String(e.position),
    });
    // Kafka binding, structured mode: content-type is the CloudEvents envelope; datacontenttype stays in the value.
    expect(msg.headers['content-type']).to.equal(CLOUDEVENTS_CONTENT_TYPE);
    expect(msg.headers['content-type']).to.match(/^application\/cloudevents\+json(;|$)/);
    expect(msg.headers).to.not.have.property('ce_datacontenttype');
    expect(JSON.parse(msg.value)).to.include({ datacontenttype: 'application/json' });
    expect(Object.keys(msg.headers).filter((h) => h !== 'content-type')).to.satisfy((hs: string[]) =>
      hs.every((h) => h.startsWith('ce_')),
    );
    expect(aggregateId('user-usr_1')).to.equal('usr_1');
    expect(aggregateId('workspace-ws_1')).to.equal('ws_1');
    expect(aggregateId('ledger-checkpoints')).to.equal('ledger-checkpoints');
    const reg = ledgerCloudEvent(
      ev(
        'UserRegistered',
        { userId: 'usr_9', email: 'a@b.c', name: 'A', passwordHash: '$argon2id$x', systemRole: 'user' },
        'user-usr_9',
      ),
    );
    expect(reg.data).to.not.have.key('passwordHash');
    expect(reg.subject).to.equal('usr_9');
  });

  it('gives a key event the ledger event id, and each fan-out item `${eventId}:${keyId}` with a sub-position cursor', () => {
    const idx = new RevocationIndex();
    idx.apply(created('key_a', 'usr_1', 'ws_1'));
    idx.apply(created('key_b', 'usr_1', 'ws_1'));
    const revoked = ev(
      'ApiKeyRevoked',
      { keyId: 'key_a', reason: 'r', revokedBy: { type: 'user', id: 'usr_admin' } },
      'apikey-key_a',
    );
    const [r] = revocationCloudEvents(revoked, idx.apply(revoked));
    expect(r).to.include({
      id: revoked.metadata.eventId,
      type: REVOCATION_TYPES.revoked,
      subject: 'key_a',
      ledgercursor: String(revoked.position),
    });
    const h = cloudEventHeaders(r!);
    expect(h).to.include({
      ce_id: r!.id,
      ce_type: REVOCATION_TYPES.revoked,
      ce_ledgercursor: String(revoked.position),
    });

    idx.apply(created('key_c', 'usr_1', 'ws_1'));
    const deact = ev('UserDeactivated', { userId: 'usr_1', reason: null }, 'user-usr_1');
    const fan = revocationCloudEvents(deact, idx.apply(deact));
    expect(fan.map((f) => [f.id, f.subject, f.ledgercursor])).to.deep.equal([
      [`${deact.metadata.eventId}:key_b`, 'key_b', `${deact.position}.0`],
      [`${deact.metadata.eventId}:key_c`, 'key_c', String(deact.position)],
    ]);
    expect(
      fan.every(
        (f) => f.type === REVOCATION_TYPES.suspended && f.data.cause === 'owner_deactivated' && !f.data.terminal,
      ),
    ).to.equal(true);
  });
});

describe('unit: publisher heartbeat CloudEvent', () => {
  it('is keyed by HEARTBEAT_KEY, carries positions and timings only, and is not a revocation type', () => {
    const data = { checkpoint: 41, head: 42, lagEvents: 1, lagMs: 12, intervalMs: 5000 };
    const hb = heartbeatCloudEvent(data, 'hb-1', new Date(Date.UTC(2026, 0, 1)));
    expect(hb).to.deep.include({
      id: 'hb-1',
      type: HEARTBEAT_TYPE,
      subject: HEARTBEAT_KEY,
      time: '2026-01-01T00:00:00.000Z',
      data,
      ledgerposition: 41,
    });
    expect(Object.values(REVOCATION_TYPES)).to.not.include(HEARTBEAT_TYPE);
    const msg = toMessage('r', hb);
    expect(msg.key).to.equal(HEARTBEAT_KEY);
    expect(msg.headers).to.include({ ce_type: HEARTBEAT_TYPE, ce_id: 'hb-1', ce_subject: HEARTBEAT_KEY });
  });
});

describe('unit: revocation fan-out index', () => {
  const script = (): StoredEvent[] => {
    ev = storedEvents(100);
    return [
      ev('WorkspaceMemberRoleSet', { workspaceId: 'ws_1', userId: 'usr_1', role: 'owner' }, 'workspace-ws_1'),
      ev('WorkspaceMemberRoleSet', { workspaceId: 'ws_2', userId: 'usr_1', role: 'member' }, 'workspace-ws_2'),
      created('key_1', 'usr_1', 'ws_1'),
      created('key_2', 'usr_1', 'ws_2'),
      created('key_3', 'usr_1', 'ws_2'),
      ev('ApiKeyExpired', { keyId: 'key_3', expiredAt: 'x', reason: 'rotated' }, 'apikey-key_3'),
      ev('WorkspaceMemberRemoved', { workspaceId: 'ws_2', userId: 'usr_1' }, 'workspace-ws_2'),
      ev('UserDeactivated', { userId: 'usr_1', reason: 'gone' }, 'user-usr_1'),
      ev('UserReactivated', { userId: 'usr_1' }, 'user-usr_1'),
      ev('WorkspaceMemberRoleSet', { workspaceId: 'ws_2', userId: 'usr_1', role: 'member' }, 'workspace-ws_2'),
      ev('WorkspaceMemberRoleSet', { workspaceId: 'ws_2', userId: 'usr_1', role: 'admin' }, 'workspace-ws_2'),
      ev('ApiKeyExpired', { keyId: 'key_1', expiredAt: 'x', reason: 'ttl' }, 'apikey-key_1'),
    ];
  };

  it('suspends only live keys, reinstates only keys whose owner is active and a member, and never revives a dead key', () => {
    const idx = new RevocationIndex();
    const out = script().map((e) => idx.apply(e).map((i) => `${i.keyId}:${i.action}:${i.cause}`));
    expect(out).to.deep.equal([
      [],
      [],
      [],
      [],
      [],
      ['key_3:revoke:rotated'],
      ['key_2:revoke:member_removed'],
      ['key_1:revoke:owner_deactivated', 'key_2:revoke:owner_deactivated'],
      ['key_1:reinstate:owner_reactivated'], // key_2: still not a member of ws_2
      ['key_2:reinstate:member_restored'],
      ['key_2:restrict:role_changed'], // a role change is not a re-admission; member → admin widens the key's scopes
      ['key_1:revoke:expired'],
    ]);
  });

  it('is deterministic: a replay yields the same items, ids and cursors', () => {
    const events = script();
    const run = (): string[] => {
      const idx = new RevocationIndex();
      return events.flatMap((e) =>
        revocationCloudEvents(e, idx.apply(e)).map((c) => `${c.id}|${c.ledgercursor}|${c.type}`),
      );
    };
    expect(run()).to.deep.equal(run());
  });
});

describe('unit: feed cursors', () => {
  it('parses and formats "P" and "P.i", refusing anything else', () => {
    expect(parseCursor('12')).to.deep.equal({ position: 12, index: null });
    expect(parseCursor('12.3')).to.deep.equal({ position: 12, index: 3 });
    expect(parseCursor('-1')).to.deep.equal({ position: -1, index: null });
    for (const bad of ['', 'x', '1.', '.1', '01', '1.2.3', '1e3', ' 1']) expect(parseCursor(bad), bad).to.equal(null);
    expect(formatCursor({ position: 7, index: null })).to.equal('7');
    expect(formatCursor({ position: 7, index: 0 })).to.equal('7.0');
  });

  it('orders items after a cursor: "P" covers the whole fan-out of P, "P.i" only up to item i', () => {
    expect(isAfter(5, 0, { position: 4, index: null })).to.equal(true);
    expect(isAfter(5, 2, { position: 5, index: null })).to.equal(false);
    expect(isAfter(5, 2, { position: 5, index: 1 })).to.equal(true);
    expect(isAfter(5, 1, { position: 5, index: 1 })).to.equal(false);
    expect(isAfter(4, 9, { position: 5, index: 0 })).to.equal(false);
  });
});

describe('unit: SSE parser', () => {
  it('handles ids, multi-line data, comments, retry, CRLF and chunks split anywhere', () => {
    const text = 'retry: 500\r\n: hello\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: heartbeat\n\nid: 8.0\ndata: x\n\n';
    for (let cut = 0; cut < text.length; cut++) {
      const events: SseEvent[] = [];
      const comments: string[] = [];
      let retry = 0;
      const p = new SseParser({
        onEvent: (e) => events.push(e),
        onComment: (c) => comments.push(c),
        onRetry: (ms) => (retry = ms),
      });
      p.push(text.slice(0, cut));
      p.push(text.slice(cut));
      expect(events, `cut at ${cut}`).to.deep.equal([
        { id: '7', event: 'message', data: '{"a":\n1}' },
        { id: '8.0', event: 'message', data: 'x' },
      ]);
      expect(comments).to.deep.equal(['hello', 'heartbeat']);
      expect(retry).to.equal(500);
    }
  });
});
