// A row's metadata is parsed on first use, and its schema version read off the text without parsing only when the
// text leaves no doubt: checked against JSON.parse on generated metadata, awkward strings and member orders included.
import { expect } from 'chai';
import fc from 'fast-check';
import { StoreUnavailableError } from '../../events/errors.js';
import { toStoredEvent } from '../../events/serialization.js';
import { leadingString, RowEvent, trailingSchemaVersion } from '../../events/store/row-event.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { FeedState } from '../../projections/revocations/feed-state.js';
import { followLoginEvent, PasswordGuard } from '../../services/http/password-guard.js';
import { keyCreatedData } from '../support/events.js';

const META = {
  eventId: 'e1',
  occurredAt: '2026-01-01T00:00:00.000Z',
  actor: { type: 'user', id: 'usr_1' },
  request: { ip: '10.0.0.1', userAgent: 'curl/8' },
  correlationId: 'c1',
  causationId: null,
  schemaVersion: 2,
};

const row = (type: string, data: unknown, metadata: string): RowEvent =>
  new RowEvent(7, 'e1', 'apikey-k1', 0, type, JSON.stringify(data), metadata);

/** JSON.parse's answer: the top-level member, or undefined. */
const parsedVersion = (json: string): unknown => (JSON.parse(json) as { schemaVersion?: unknown }).schemaVersion;

describe('row events', () => {
  it('reads the version of metadata this ledger writes without parsing it, and parses it on first use', () => {
    const text = JSON.stringify(META);
    expect(trailingSchemaVersion(text)).to.equal(2);
    const r = row('ApiKeyUsed', { keyId: 'k1' }, text);
    expect(r.schemaVersion).to.equal(2);
    expect(r.metadata).to.deep.equal(META);
    expect(r.metadata).to.equal(r.metadata);
  });

  it('answers undefined for text it cannot be sure of, so the metadata is parsed instead', () => {
    for (const text of [
      '{"a":{"schemaVersion":1}}', // nested, not top-level
      '{"a":"x\\",\\"schemaVersion\\":3"}', // inside a string
      '{"schemaVersion":1,"x\\",\\"schemaVersion":5}', // the tail of another member's name
      '{"schemaVersion": 2}', // not compact
      '{"schemaVersion":2,"x":1}', // not the last member
      '{"x":1,"schemaVersion":02}', // leading zero
      '{"x":1,"schemaVersion":2.5}',
      '{"x":1,"schemaVersion":12345678901}', // more digits than it reads
      '{"x":1,"schemaVersion":}',
      '{"x":1}',
      '}',
      '',
    ])
      expect(trailingSchemaVersion(text), text).to.equal(undefined);
    expect(row('ApiKeyUsed', {}, '{"a":{"schemaVersion":1}}').schemaVersion).to.equal(undefined);
    expect(row('ApiKeyUsed', {}, '{"schemaVersion": 1 }').schemaVersion).to.equal(1);
  });

  it('agrees with JSON.parse on generated metadata whenever it answers', () => {
    const value = fc.jsonValue({ maxDepth: 2 });
    const version = fc.oneof(fc.nat(), fc.constant(undefined), fc.string(), fc.double());
    const nastyKey = fc.constantFrom('schemaVersion', 'x","schemaVersion', ',"schemaVersion":', 'a');
    const member = fc.oneof(value, fc.nat());
    fc.assert(
      fc.property(
        fc.dictionary(fc.oneof(fc.string(), nastyKey, nastyKey), member),
        version,
        fc.boolean(),
        (rest, v, last) => {
          const members: Record<string, unknown> = last ? { ...rest, schemaVersion: v } : { schemaVersion: v, ...rest };
          const text = JSON.stringify(members);
          const probed = trailingSchemaVersion(text);
          if (probed !== undefined) expect(probed).to.equal(parsedVersion(text));
          expect(row('ApiKeyUsed', {}, text).schemaVersion).to.deep.equal(parsedVersion(text));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads the time of metadata this ledger writes without parsing it, and of any other text by parsing it', () => {
    const text = JSON.stringify(META);
    expect(leadingString(text, 'occurredAt', 3)).to.equal(META.occurredAt);
    // The rest of the text is not read: it is parsed, and refused if it must be, on first use of the metadata.
    const cut = text.slice(0, text.indexOf(',"actor"'));
    expect(row('ApiKeyCreated', {}, cut).occurredAtText).to.equal(META.occurredAt);
    const reordered = JSON.stringify({ actor: META.actor, occurredAt: '2026-02-02T00:00:00.000Z' });
    expect(leadingString(reordered, 'occurredAt', 3)).to.equal(undefined);
    expect(row('ApiKeyCreated', {}, reordered).occurredAtText).to.equal('2026-02-02T00:00:00.000Z');
  });

  it('answers undefined for a leading member it cannot be sure of', () => {
    for (const text of [
      '{"eventId":"a\\"b","occurredAt":"t"}', // an escape before it
      '{"eventId":"a","occurredAt":"t\\u0031"}', // an escape inside it
      '{"eventId":"a","occurredAt":"t","occurredAt":"u"}', // repeated: the last wins in JSON.parse
      '{"eventId":"a","occurredAt":"t","x":{"occurredAt":"u"}}', // named again further on
      '{"eventId":1,"occurredAt":"t"}', // a member before it that is not a string
      '{"occurredAt":2}',
      '{"eventId": "a","occurredAt":"t"}', // not compact
      '{"a":"1","b":"2","c":"3","occurredAt":"t"}', // beyond the members it looks at
      '{"occurredAtX":"t"}',
      '{"occurredAt":"t',
      '{"occurredAt',
      '[]',
      '',
    ])
      expect(leadingString(text, 'occurredAt', 3), text).to.equal(undefined);
  });

  it('agrees with JSON.parse on the leading string member of generated metadata whenever it answers', () => {
    const nastyKey = fc.constantFrom('occurredAt', 'occurredAt"', 'x":"occurredAt', '"occurredAt"', 'a');
    const member = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.constant('2026-01-01T00:00:00.000Z'));
    const text = fc
      .array(fc.tuple(fc.oneof(fc.string(), nastyKey, nastyKey), member), { maxLength: 6 })
      .map((pairs) => {
        // Built by hand so that repeated names stay repeated, as JSON.parse may meet them.
        return `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
      });
    let answered = 0;
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 4 }), (json, members) => {
        const probed = leadingString(json, 'occurredAt', members);
        if (probed === undefined) return;
        answered++;
        expect(probed).to.equal((JSON.parse(json) as { occurredAt?: unknown }).occurredAt);
      }),
      { numRuns: 3000 },
    );
    expect(answered).to.be.greaterThan(0);
  });

  it('is its own stored event when no upcast is due; an old version is upcast with its metadata', () => {
    const current = row('ApiKeyUsed', { keyId: 'k1', count: 1, presentations: { bearer: 1 } }, JSON.stringify(META));
    expect(toStoredEvent(current)).to.equal(current);
    const v1 = JSON.stringify({ ...META, schemaVersion: 1 });
    const old = toStoredEvent(row('ApiKeyUsed', { keyId: 'k1', count: 3, presentation: 'bearer' }, v1));
    expect(old?.data).to.deep.include({ presentations: { bearer: 3 } });
    expect(old?.metadata).to.deep.equal({ ...META, schemaVersion: 1 });
  });

  it('hands JSON.stringify its parsed metadata', () => {
    const r = row('ApiKeyRevoked', { keyId: 'k1' }, JSON.stringify(META));
    expect(JSON.parse(JSON.stringify(r))).to.deep.equal({
      position: 7,
      id: 'e1',
      streamId: 'apikey-k1',
      revision: 0,
      type: 'ApiKeyRevoked',
      data: { keyId: 'k1' },
      metadata: META,
    });
  });

  it('still refuses data that is not JSON when the row is read, and metadata when it is read, naming the event', () => {
    expect(() => new RowEvent(1, 'e', 's', 0, 'ApiKeyUsed', '{', '{}')).to.throw(SyntaxError);
    const r = new RowEvent(9, 'e9', 's', 0, 'ApiKeyUsed', '{}', '{"a":,"schemaVersion":2}');
    expect(r.schemaVersion).to.equal(2);
    const err = (() => {
      try {
        return r.metadata;
      } catch (e) {
        return e;
      }
    })();
    expect(err).to.be.instanceOf(StoreUnavailableError);
    expect(err).to.include({ code: 'STORE_UNAVAILABLE', retriable: false });
    expect((err as Error).message).to.include('position 9 (e9)');
  });

  it('upcasts an old row without parsing its metadata, and only once', () => {
    // Text that fails JSON.parse but ends as this ledger's metadata does: reading it would throw.
    const unparsable = '{"occurredAt":,"schemaVersion":1}';
    const v1 = { keyId: 'key_1', count: 3, firstAt: META.occurredAt, lastAt: META.occurredAt, presentation: 'bearer' };
    const r = new RowEvent(4, 'e4', 'apikey-key_1', 1, 'ApiKeyUsed', JSON.stringify(v1), unparsable);
    const e = toStoredEvent(r)!;
    expect(e).to.be.instanceOf(RowEvent);
    expect(e).to.deep.include({ position: 4, streamId: 'apikey-key_1', revision: 1, type: 'ApiKeyUsed' });
    expect(e.data).to.deep.equal({ ...v1, presentations: { bearer: 3 } });
    expect((e as unknown as RowEvent).schemaVersion).to.equal(2);
    expect(toStoredEvent(e as unknown as RowEvent)).to.equal(e); // current now: not upcast again
    expect(r.data).to.deep.equal(v1); // the row itself is unchanged
    expect(() => e.metadata).to.throw(StoreUnavailableError, /position 4 \(e4\)/);
  });

  it('upcasts ApiKeyUsed v1 data exactly as a spread would, an own __proto__ member included', () => {
    const meta = JSON.stringify({ ...META, schemaVersion: 1 });
    const upcast = (text: string): Record<string, unknown> =>
      toStoredEvent(new RowEvent(5, 'e5', 's', 0, 'ApiKeyUsed', text, meta))!.data;
    const spread = (d: Record<string, unknown>): Record<string, unknown> => ({
      ...d,
      presentations: { [String(d.presentation)]: d.count },
    });
    const evil = upcast('{"__proto__":{"admin":true},"keyId":"k","count":2,"presentation":"bearer"}');
    expect(Object.getPrototypeOf(evil)).to.equal(Object.prototype);
    expect(Object.keys(evil)).to.deep.equal(['__proto__', 'keyId', 'count', 'presentation', 'presentations']);
    expect((evil as { admin?: unknown }).admin).to.equal(undefined);
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 8 }),
        fc.constantFrom('bearer', 'api-key', 'basic'),
        fc.nat(),
        (extra, presentation, count) => {
          const text = JSON.stringify({ ...extra, keyId: 'k', presentation, count });
          const got = upcast(text);
          const want = spread(JSON.parse(text) as Record<string, unknown>);
          expect(JSON.stringify(got)).to.equal(JSON.stringify(want)); // same members, same order
          expect(Object.getPrototypeOf(got)).to.equal(Object.prototype);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is replayed by the read model, the login follower and the revocation feed without its metadata, for ApiKeyUsed', () => {
    const model = new ReadModel();
    const guard = new PasswordGuard({ maxFailuresPerAccount: 5, maxFailuresPerIp: 50, windowSeconds: 60 }, () => 0);
    model.onApplied((e) => followLoginEvent(guard, e, () => undefined));
    const meta = JSON.stringify(META);
    const user = {
      userId: 'usr_1',
      email: 'ann@example.com',
      name: 'Ann',
      passwordHash: '$argon2id$x',
      systemRole: 'user',
    };
    const log: RowEvent[] = [];
    log.push(new RowEvent(1, 'e1', 'user-usr_1', 0, 'UserRegistered', JSON.stringify(user), meta));
    log.push(new RowEvent(2, 'e2', 'apikey-key_1', 0, 'ApiKeyCreated', JSON.stringify(keyCreatedData()), meta));
    // Text that fails JSON.parse but ends as this ledger's metadata does: reading it would throw.
    const unparsable = '{"occurredAt":,"schemaVersion":2}';
    const used = { keyId: 'key_1', count: 3, firstAt: META.occurredAt, lastAt: '2026-01-01T00:00:09.000Z' };
    log.push(new RowEvent(3, 'e3', 'apikey-key_1', 1, 'ApiKeyUsed', JSON.stringify(used), unparsable));
    const feed = new FeedState();
    for (const r of log) {
      model.applyRecorded(r);
      feed.apply(r);
    }
    expect(feed.position).to.equal(3);
    expect(model.position).to.equal(3);
    expect(model.findKey('usr_1', 'key_1')).to.deep.include({ useCount: 3, lastUsedAt: Date.parse(used.lastAt) });
  });
});
