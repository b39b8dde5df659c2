// The command handler on its own: which failures it retries, how often, and against what state.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { streams, type UserEvent } from '../../events/catalog.js';
import { ConcurrencyError, StoreUnavailableError } from '../../events/errors.js';
import { SYSTEM_ACTOR } from '../../events/metadata.js';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { CommandBus, MAX_ATTEMPTS, type CommandContext } from '../../services/commands/command-bus.js';
import { userDecider } from '../../services/domain/user.js';
import { randomIds } from '../../services/ids.js';
import { rejectsWith } from '../support/async.js';
import { InterceptedStore } from '../support/store-contract.js';

const H = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g';
const H2 = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$b3RoZXJoYXNo';

const ctx: CommandContext = { actor: SYSTEM_ACTOR };
const clock = (): Date => new Date('2026-01-01T00:00:00.000Z');
const stream = streams.user('usr_1');
const later = new Date('2026-01-02T00:00:00.000Z');

describe('command bus: version conflicts', () => {
  let store: InterceptedStore;
  let bus: CommandBus;
  let appends: number;
  beforeEach(async () => {
    store = new InterceptedStore(new SqliteEventStore(':memory:'));
    bus = new CommandBus(store, randomIds, clock, () => Promise.resolve());
    await bus.execute(
      userDecider,
      stream,
      { type: 'RegisterUser', userId: 'usr_1', email: 'a@b.c', name: 'A', passwordHash: H, systemRole: 'user' },
      ctx,
    );
    appends = 0;
  });
  afterEach(() => store.close());

  /** Another writer appends `event` to the stream just before the bus's next append. */
  const interleave = (event: UserEvent, times: number): void => {
    let left = times;
    store.onAppend = async (streamId, events, expected, next) => {
      appends++;
      if (left-- > 0) await store.inner.append(streamId, bus.envelope([event], ctx, clock()), 'any');
      return next();
    };
  };
  const types = async (): Promise<string[]> => (await store.readStream(stream)).map((e) => e.type);

  it('retries a ConcurrencyError when the decision still holds, against the fresh state', async () => {
    interleave({ type: 'UserPasswordChanged', data: { userId: 'usr_1', passwordHash: 'other' } }, 1);
    const r = await bus.execute(
      userDecider,
      stream,
      { type: 'RecordLoginSuccess', sessionId: 'ses_1', expiresAt: later },
      ctx,
    );
    expect(appends).to.equal(2);
    expect(r.events.map((e) => e.type)).to.deep.equal(['UserLoginSucceeded']);
    expect(r.eventIds).to.have.length(1);
    expect(await types()).to.deep.equal(['UserRegistered', 'UserPasswordChanged', 'UserLoginSucceeded']);
  });

  it('surfaces the new decision’s domain error when the state changed under it', async () => {
    interleave({ type: 'UserDeactivated', data: { userId: 'usr_1', reason: null } }, 1);
    await rejectsWith(
      bus.execute(userDecider, stream, { type: 'RecordLoginSuccess', sessionId: 'ses_1', expiresAt: later }, ctx),
      'USER_INACTIVE',
    );
    expect(appends).to.equal(1);
    expect(await types()).to.deep.equal(['UserRegistered', 'UserDeactivated']);
  });

  it('writes nothing when the new decision is that nothing is left to do', async () => {
    interleave({ type: 'UserDeactivated', data: { userId: 'usr_1', reason: 'first' } }, 1);
    const r = await bus.execute(userDecider, stream, { type: 'DeactivateUser', reason: 'second' }, ctx);
    expect(r.events).to.deep.equal([]);
    expect(r.position).to.equal(null);
    expect(await types()).to.deep.equal(['UserRegistered', 'UserDeactivated']);
  });

  it(`gives up with ConcurrencyError after ${MAX_ATTEMPTS} attempts`, async () => {
    interleave({ type: 'UserPasswordChanged', data: { userId: 'usr_1', passwordHash: 'again' } }, Infinity);
    const e = await rejectsWith(
      bus.execute(userDecider, stream, { type: 'ChangePassword', passwordHash: H2 }, ctx),
      'CONCURRENCY',
    );
    expect(e).to.be.instanceOf(ConcurrencyError);
    expect(appends).to.equal(MAX_ATTEMPTS);
    expect((await types()).filter((t) => t === 'UserPasswordChanged')).to.have.length(MAX_ATTEMPTS);
  });

  it('honours a configured attempt limit', async () => {
    bus = new CommandBus(store, randomIds, clock, () => Promise.resolve(), 2);
    interleave({ type: 'UserPasswordChanged', data: { userId: 'usr_1', passwordHash: 'again' } }, Infinity);
    await rejectsWith(
      bus.execute(userDecider, stream, { type: 'ChangePassword', passwordHash: H2 }, ctx),
      'CONCURRENCY',
    );
    expect(appends).to.equal(2);
  });

  for (const [name, make] of [
    ['an unavailable store', () => new StoreUnavailableError('down', null, true)],
    ['a non-retriable store failure', () => new StoreUnavailableError('broken', null, false)],
    ['a TypeError', () => new TypeError('bad event')],
  ] as const) {
    it(`does not retry ${name}`, async () => {
      const err = make();
      store.onAppend = () => {
        appends++;
        return Promise.reject(err);
      };
      try {
        await bus.execute(userDecider, stream, { type: 'ChangePassword', passwordHash: H2 }, ctx);
        expect.fail('expected a rejection');
      } catch (e) {
        expect(e).to.equal(err);
      }
      expect(appends).to.equal(1);
    });
  }

  it('re-evaluates a command given as a function of the state on every attempt', async () => {
    interleave({ type: 'UserPasswordChanged', data: { userId: 'usr_1', passwordHash: 'other' } }, 2);
    const seen: number[] = [];
    let revision = 0;
    await bus.execute(
      userDecider,
      stream,
      (s) => {
        seen.push(revision++);
        expect(s.exists).to.equal(true);
        return { type: 'ChangePassword' as const, passwordHash: `${H}${randomUUID()}` };
      },
      ctx,
    );
    expect(seen).to.deep.equal([0, 1, 2]);
    expect(await types()).to.deep.equal([
      'UserRegistered',
      'UserPasswordChanged',
      'UserPasswordChanged',
      'UserPasswordChanged',
    ]);
  });

  it('gives every write of one correlated context the same correlation id, and the request as causation', async () => {
    const c = bus.correlate({ actor: SYSTEM_ACTOR, request: { requestId: 'req_1' } });
    await bus.execute(userDecider, stream, { type: 'ChangePassword', passwordHash: H }, c);
    await bus.execute(userDecider, stream, { type: 'ChangePassword', passwordHash: H2 }, c);
    const meta = (await store.readStream(stream, { fromRevision: 1 })).map(
      (e) => e.metadata as { correlationId: string; causationId: string | null },
    );
    expect(meta.map((m) => m.correlationId)).to.deep.equal([c.correlationId, c.correlationId]);
    expect(meta.map((m) => m.causationId)).to.deep.equal(['req_1', 'req_1']);
  });
});
