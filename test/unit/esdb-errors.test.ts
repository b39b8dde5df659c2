import {
  AccessDeniedError,
  CancelledError,
  EventStoreDBClient,
  jsonEvent,
  DeadlineExceededError,
  StreamDeletedError,
  UnavailableError,
  UnknownError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { LedgerError } from '../../events/errors.js';
import {
  ConcurrencyError,
  IdempotencyError,
  InvalidPositionError,
  StoreUnavailableError,
} from '../../events/errors.js';
import { EsdbEventStore, translateEsdbError } from '../../events/store/esdb.js';
import { positionOf } from '../../events/store/esdb/records.js';
import { checkServerVersion, wireOf } from '../../events/store/esdb/wire.js';
import { statusOf, toResponse } from '../../services/http/errors.js';
import { rejectsWith, waitUntil } from '../support/async.js';

// Nothing listens on port 1: every call fails with "connection refused" quickly and deterministically.
const DEAD_URL = 'esdb://127.0.0.1:1?tls=false';

describe('EventStoreDB adapter: error translation', () => {
  it('maps WrongExpectedVersionError to a retriable ConcurrencyError with readable revisions', () => {
    const raw = new WrongExpectedVersionError(undefined, { streamName: 'token-1', expected: 3n, current: 5n });
    const e = translateEsdbError(raw, 'append');
    expect(e).to.be.instanceOf(ConcurrencyError);
    expect(e.code).to.equal('CONCURRENCY');
    expect(e.retriable).to.equal(true);
    expect(e.fields).to.deep.equal({ streamId: 'token-1', expected: '3', actual: '5' });
    expect(e.cause).to.equal(raw);
  });

  it('reports a missing stream as actual no_stream', () => {
    const raw = new WrongExpectedVersionError(undefined, {
      streamName: 's',
      expected: 'stream_exists',
      current: 'no_stream',
    });
    const e = translateEsdbError(raw, 'append');
    expect(e.fields).to.deep.equal({ streamId: 's', expected: 'stream_exists', actual: 'no_stream' });
  });

  for (const [name, make] of [
    ['UnavailableError', () => new UnavailableError(undefined, 'no connection')],
    ['DeadlineExceededError', () => new DeadlineExceededError()],
    ['CancelledError', () => new CancelledError()],
  ] as const) {
    it(`maps ${name} to a retriable StoreUnavailableError`, () => {
      const raw = make();
      const e = translateEsdbError(raw, 'readAll');
      expect(e).to.be.instanceOf(StoreUnavailableError);
      expect(e.code).to.equal('STORE_UNAVAILABLE');
      expect(e.retriable).to.equal(true);
      expect(e.cause).to.equal(raw);
    });
  }

  it('maps a raw gRPC UNAVAILABLE service error (not yet converted by the client) to retriable', () => {
    const raw = Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
      code: 14,
      details: 'No connection established',
      metadata: { getMap: () => ({}) },
    });
    const e = translateEsdbError(raw, 'append');
    expect(e).to.be.instanceOf(StoreUnavailableError);
    expect(e.retriable).to.equal(true);
    expect(e.cause).to.equal(raw);
  });

  it('maps discovery failures and socket errors to retriable', () => {
    expect(translateEsdbError(new Error('Failed to discover after 10 attempts.'), 'append').retriable).to.equal(true);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:2113'), { code: 'ECONNREFUSED' });
    expect(translateEsdbError(refused, 'append').retriable).to.equal(true);
  });

  for (const [name, make] of [
    ['StreamDeletedError', () => StreamDeletedError.fromStreamName('gone')],
    ['AccessDeniedError', () => new AccessDeniedError()],
    ['UnknownError', () => new UnknownError(undefined, 'boom')],
    ['a plain Error', () => new Error('something else')],
  ] as const) {
    it(`maps ${name} to a non-retriable StoreUnavailableError carrying the cause`, () => {
      const raw = make();
      const e = translateEsdbError(raw, 'append');
      expect(e).to.be.instanceOf(StoreUnavailableError);
      expect(e.retriable).to.equal(false);
      expect(e.cause).to.equal(raw);
    });
  }

  it('passes our own errors through untouched', () => {
    const own = new IdempotencyError('s', 'e');
    expect(translateEsdbError(own, 'append')).to.equal(own);
  });
});

describe('EventStoreDB adapter: unreachable server', () => {
  let store: EsdbEventStore;
  beforeEach(() => {
    store = new EsdbEventStore(DEAD_URL, { maxResubscribeAttempts: 0 });
  });
  afterEach(() => store.close());

  const expectUnavailable = async (p: Promise<unknown>): Promise<void> => {
    expect((await rejectsWith(p, 'STORE_UNAVAILABLE')).retriable).to.equal(true);
  };

  it('rejects every call with a retriable STORE_UNAVAILABLE and no client error types', async () => {
    await expectUnavailable(store.append('s', [{ id: randomUUID(), type: 'T', data: {}, metadata: {} }]));
    await expectUnavailable(store.readStream('s'));
    await expectUnavailable(store.readAll({ after: -1, maxCount: 10 }));
    await expectUnavailable(store.headPosition());
  });

  it('a subscription reports the failure through onError and rejects caughtUp', async () => {
    const errors: unknown[] = [];
    const sub = store.subscribeAll(() => undefined, { onError: (e) => errors.push(e) });
    await expectUnavailable(sub.caughtUp);
    await sub.close();
    expect(errors).to.have.length(1);
    expect((errors[0] as LedgerError).code).to.equal('STORE_UNAVAILABLE');
  });

  it('close() stops a subscription that is waiting to resubscribe', async () => {
    const retrying = new EsdbEventStore(DEAD_URL, { maxResubscribeAttempts: 1000 });
    // Counts the subscription's failed attempts: once one has failed, it is waiting to resubscribe.
    let failedAttempts = 0;
    const headPosition = retrying.headPosition.bind(retrying);
    retrying.headPosition = async () => {
      try {
        return await headPosition();
      } catch (e) {
        failedAttempts++;
        throw e;
      }
    };
    const errors: unknown[] = [];
    const sub = retrying.subscribeAll(() => undefined, { onError: (e) => errors.push(e) });
    await waitUntil(() => failedAttempts >= 1, 10_000, 'the first subscription attempt to fail');
    await sub.close();
    await retrying.close();
    expect(errors).to.deep.equal([]);
  });

  it('refuses an invalid connection string with a non-retriable error', () => {
    expect(() => new EsdbEventStore('not a url')).to.throw(StoreUnavailableError);
  });

  it('refuses use after close', async () => {
    await store.close();
    expect((await rejectsWith(store.readStream('s'), 'STORE_UNAVAILABLE')).retriable).to.equal(false);
  });
});

describe('EventStoreDB adapter: what it sends and accepts', () => {
  it('appends through the unary Append call, never the batch append (the 6.x promise bank)', async () => {
    const client = EventStoreDBClient.connectionString(DEAD_URL);
    const batch = new Error('the batch append was used');
    Object.assign(client, { appendToStream: () => Promise.reject(batch) });
    const wire = wireOf(client);
    const event = jsonEvent({ id: randomUUID(), type: 'T', data: {} });
    try {
      await wire.append('s', [event], { expectedRevision: 'no_stream' });
      expect.fail('expected the dead server to fail the append');
    } catch (e) {
      expect(e).not.to.equal(batch);
      expect(translateEsdbError(e, 'append').retriable).to.equal(true);
    } finally {
      await client.dispose();
    }
  });

  it('requires EventStoreDB 22.6 or newer', () => {
    for (const ok of ['22.6.0', '22.10.3', '23.10.0.0', '24.10.5', '25.0.1'])
      expect(() => checkServerVersion(ok)).not.to.throw();
    for (const old of ['22.4.1', '21.10.9', '20.10.0', 'unknown', '']) {
      expect(() => checkServerVersion(old), old)
        .to.throw(StoreUnavailableError)
        .with.property('retriable', false);
    }
  });

  it('reads 0 and 2^64-1 as "no position" (the client fills them in when the server sends none)', () => {
    const raw = (commit: bigint) =>
      ({ id: randomUUID(), streamId: 's', revision: 0n, type: 'T', position: { commit, prepare: commit } }) as never;
    expect(positionOf(raw(4096n))).to.equal(4096);
    for (const missing of [0n, 2n ** 64n - 1n]) {
      expect(() => positionOf(raw(missing))).to.throw(StoreUnavailableError);
      expect(positionOf(raw(missing), 512n)).to.equal(512);
    }
  });

  it('an invalid position is a non-retriable 400 on the wire', () => {
    const e = new InvalidPositionError(17, 'is not the position of a record');
    expect(e).to.deep.include({ code: 'INVALID_POSITION', retriable: false, fields: { position: 17 } });
    expect(statusOf(e.code)).to.equal(400);
    const r = toResponse(e);
    expect(r.status).to.equal(400);
    expect(r.body.errors[0]!.code).to.equal('invalid_position');
  });
});
