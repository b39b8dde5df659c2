// A long randomized (seeded, reproducible) history, then three read models must agree:
// the live one, one rebuilt by hand from readAll pages, and one from a second Ledger on the same file; and a snapshot
// taken anywhere in the history, plus the log after it, must equal the full replay (read model and revocation feed).
import { expect } from 'chai';
import type { KeyFormat, Presentation, WorkspaceRole } from '../../events/catalog.js';
import { DomainError, NotFoundError } from '../../services/domain/errors.js';
import { toStoredEvent } from '../../events/serialization.js';
import type { EventStore, RecordedEvent } from '../../events/store/types.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { fromImage, toImage, type ReadModelImage } from '../../projections/read-model/image.js';
import { FeedState, type FeedImage } from '../../projections/revocations/feed-state.js';
import type { IdGenerator } from '../../services/ids.js';
import { SYSTEM, type Ledger } from '../../services/ledger.js';
import { makeLedger, type TestLedger } from '../support/ledger.js';
import { idOf, prng } from '../support/prng.js';

const SEED = Number(process.env.REBUILD_SEED ?? 0x5eed1e5);
const OPS = Number(process.env.REBUILD_OPS ?? 600);

/** Deterministic ids so a failing seed replays the same streams. */
function seededIds(seed: number): IdGenerator {
  const r = prng(seed ^ 0x1d5);
  let n = 0;
  const hex = (len: number): string => {
    let s = '';
    for (let i = 0; i < len; i++) s += Math.floor(r() * 16).toString(16);
    return s;
  };
  return {
    uuid: () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${(n++).toString(16).padStart(12, '0')}`,
    id: (prefix) => idOf(r, prefix),
  };
}

/** Applies the log after `after` up to `until`, in pages of `pageSize`, checking that positions strictly increase. */
async function foldLog(
  store: EventStore,
  pageSize: number,
  after: number,
  until: number,
  apply: (r: RecordedEvent) => void,
): Promise<void> {
  let last = -Infinity;
  for (;;) {
    const page = await store.readAll({ after, maxCount: pageSize });
    for (const r of page.events) {
      if (r.position > until) return;
      expect(r.position, 'positions strictly increase').to.be.greaterThan(last);
      last = r.position;
      apply(r);
    }
    after = page.lastPosition;
    if (page.isEnd) return;
  }
}

/** Rebuilds a read model from nothing but the log (or from `rm` on), the way a fresh process would; up to `until`. */
async function rebuildFromLog(
  store: EventStore,
  pageSize: number,
  rm = new ReadModel(),
  until = Infinity,
): Promise<ReadModel> {
  await foldLog(store, pageSize, rm.position, until, (r) => {
    const e = toStoredEvent(r);
    if (e) rm.apply(e);
    else rm.position = r.position;
  });
  return rm;
}

/** The revocation feed's state from the log (or from `feed` on), up to `until`. */
async function feedFromLog(
  store: EventStore,
  pageSize: number,
  feed = new FeedState(),
  until = Infinity,
): Promise<FeedState> {
  await foldLog(store, pageSize, feed.position, until, (r) => void feed.apply(r));
  return feed;
}

const ROLES: WorkspaceRole[] = ['owner', 'admin', 'member', 'auditor'];
const SCOPES = ['keys:read', 'keys:create', 'audit:read', 'data:read', 'data:write'];
const HANDLES = ['ci', 'deploy', 'bot'];
const PRESENTATIONS: Presentation[] = ['bearer', 'api-key', 'api-key-header', 'url', 'direct'];

describe('rebuild: a full rebuild equals the live read model', () => {
  let t: TestLedger;
  afterEach(async () => t?.dispose());

  it(`after ${OPS} randomized operations (seed ${SEED})`, async function () {
    this.timeout(30_000);
    const rnd = prng(SEED);
    const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
    const chance = (p: number): boolean => rnd() < p;
    const pick = <T>(xs: readonly T[]): T | undefined =>
      xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)];

    t = await makeLedger({ ids: seededIds(SEED) });
    const live: Ledger = t.ledger;
    const users: string[] = [];
    const workspaces: string[] = [];
    const keys: string[] = [];
    const tokens = new Map<string, string>(); // token → key id
    const ok = new Map<string, number>();
    const refused = new Map<string, number>();
    const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
    let sessions = 0;

    const minted = (r: { key: { id: string }; token: string }): void => {
      keys.push(r.key.id);
      tokens.set(r.token, r.key.id);
    };

    const anyUser = (): string => pick(users) ?? 'usr_missing';
    const anyWs = (): string => pick(workspaces) ?? 'ws_missing';
    const anyKey = (): string => (chance(0.03) ? 'key_missing' : (pick(keys) ?? 'key_missing'));

    // Each returns a thunk so the random choices are made now, in a fixed order, even when run concurrently.
    type Op = [name: string, run: () => Promise<unknown>];
    const choose = (allowSlow: boolean): Op => {
      const table: Array<[number, () => Op]> = [
        [
          allowSlow && users.length < 8 ? 3 : 0,
          () => {
            const email = `u${int(0, 9)}@example.com`;
            const ws = chance(0.5) && workspaces.length > 0 ? anyWs() : null;
            const role = pick(ROLES);
            return [
              'registerUser',
              async () => {
                const u = await live.users.register(
                  { email, name: `U ${email}`, password: 'correct horse battery staple', workspaceId: ws, role },
                  SYSTEM,
                );
                users.push(u.id);
              },
            ];
          },
        ],
        [
          users.length === 0 ? 0 : allowSlow ? 0.3 : 0,
          () => {
            const u = anyUser();
            return [
              'changePassword',
              () => live.users.changePassword(u, `another long password ${int(0, 99)}`, SYSTEM),
            ];
          },
        ],
        [
          users.length === 0 ? 0 : 2,
          () => {
            const u = anyUser();
            const name = `ws-${int(0, 99)}`;
            return ['createWorkspace', async () => workspaces.push((await live.workspaces.create(name, u, SYSTEM)).id)];
          },
        ],
        [
          workspaces.length === 0 ? 0 : 3,
          () => {
            const w = anyWs();
            const u = anyUser();
            const r = pick(ROLES)!;
            return ['setMemberRole', () => live.workspaces.setMemberRole(w, u, r, SYSTEM)];
          },
        ],
        [
          workspaces.length === 0 ? 0 : 1.5,
          () => {
            const w = anyWs();
            // Mostly a current member, so removals happen; sometimes anyone (NOT_A_MEMBER, LAST_OWNER).
            const members = [...(live.read.findWorkspace(w)?.members ?? [])]
              .filter(([, m]) => m.role !== null)
              .map(([id]) => id);
            const u = chance(0.7) ? (pick(members) ?? anyUser()) : anyUser();
            return ['removeMember', () => live.workspaces.removeMember(w, u, SYSTEM)];
          },
        ],
        [
          users.length === 0 ? 0 : 0.6,
          () => {
            const u = anyUser();
            return ['deactivateUser', () => live.users.deactivate(u, chance(0.5) ? 'left' : null, SYSTEM)];
          },
        ],
        [
          users.length === 0 ? 0 : 1.5,
          () => {
            const u = anyUser();
            return ['reactivateUser', () => live.users.reactivate(u, SYSTEM)];
          },
        ],
        [
          users.length === 0 ? 0 : 1,
          () => {
            const u = anyUser();
            const sid = `ses_${sessions++}`;
            const failReason = pick(['unknown_user', 'bad_password', 'inactive', 'throttled'] as const)!;
            const email = `u${int(0, 12)}@example.com`;
            return [
              'sessions',
              async () => {
                await live.users.recordLoginFailure(email, failReason, SYSTEM);
                await live.users.recordLoginSuccess(u, sid, new Date(t.clock.ms + 3600_000), SYSTEM);
                if (chance(0.7)) await live.users.logout(u, sid, SYSTEM);
              },
            ];
          },
        ],
        [
          users.length === 0 ? 0 : 14,
          () => {
            const userId = anyUser();
            const workspaceId = chance(0.6) ? undefined : anyWs();
            const handle = chance(0.3) ? pick(HANDLES) : null;
            const scopes = chance(0.5) ? SCOPES.filter(() => chance(0.4)) : null;
            const format: KeyFormat = chance(0.2) ? 'jwt' : 'opaque';
            const e = rnd();
            let expiresInSeconds: number | null = null;
            let expiresAt: Date | null = null;
            if (e < 0.4) expiresInSeconds = int(10, 3600);
            else if (e < 0.5) expiresAt = new Date(t.clock.ms + int(5, 7200) * 1000);
            else if (e < 0.53)
              [expiresInSeconds, expiresAt] = [60, new Date(t.clock.ms + 60_000)]; // EXPIRY_AMBIGUOUS
            else if (e < 0.56) expiresAt = new Date(t.clock.ms - 1000); // EXPIRY_IN_PAST
            const retrievable = chance(0.2);
            const description = chance(0.3) ? `d${int(0, 9)}` : null;
            const alias = chance(0.2) ? `a${int(0, 9)}` : null;
            const name = `k${int(0, 999)}`;
            return [
              'createKey',
              async () =>
                minted(
                  await live.keys.create(
                    {
                      userId,
                      workspaceId,
                      name,
                      description,
                      alias,
                      handle,
                      scopes,
                      format,
                      expiresInSeconds,
                      expiresAt,
                      retrievable,
                    },
                    SYSTEM,
                  ),
                ),
            ];
          },
        ],
        [
          keys.length === 0 ? 0 : 2,
          () => {
            const k = anyKey();
            return [
              'revokeKey',
              () => live.keys.revoke(k, chance(0.5) ? 'leaked' : null, { actor: { type: 'user', id: anyUser() } }),
            ];
          },
        ],
        [
          keys.length === 0 ? 0 : 3,
          () => {
            const k = anyKey();
            const g = rnd();
            const grace = g < 0.4 ? 0 : g < 0.9 ? int(1, 600) : g < 0.95 ? 100 * 24 * 3600 : -1; // GRACE_TOO_LONG, INVALID_GRACE
            return ['rotateKey', async () => minted(await live.keys.rotate(k, grace, SYSTEM))];
          },
        ],
        [
          keys.length === 0 ? 0 : 2,
          () => {
            const k = anyKey();
            const patch = chance(0.1)
              ? { expiresAt: '2030-01-01T00:00:00Z' }
              : {
                  name: `n${int(0, 5)}`,
                  description: chance(0.5) ? null : `d${int(0, 3)}`,
                  alias: chance(0.5) ? undefined : `a${int(0, 3)}`,
                };
            return ['updateKey', () => live.keys.update(k, patch, SYSTEM)];
          },
        ],
        [
          keys.length === 0 ? 0 : 0.7,
          () => {
            const k = anyKey();
            return ['revealKey', () => live.keys.reveal(k, SYSTEM)];
          },
        ],
        [
          users.length === 0 ? 0 : 0.15,
          () => {
            const u = anyUser();
            return ['revokeAllKeys', () => live.keys.revokeAll(u, 'offboarding', SYSTEM)];
          },
        ],
        [
          workspaces.length === 0 ? 0 : 1.5,
          () => {
            const w = anyWs();
            const policy = {
              maxTtlSeconds: chance(0.5) ? null : chance(0.1) ? 0 : int(60, 7200), // 0 → INVALID_POLICY
              requireExpiry: chance(0.3),
              maxGraceSeconds: chance(0.5) ? null : int(10, 600),
            };
            return ['setPolicy', () => live.workspaces.setPolicy(w, policy, SYSTEM)];
          },
        ],
        [
          3,
          () => {
            const s = int(1, 900);
            return ['advanceClock', () => Promise.resolve(t.clock.advance(s))];
          },
        ],
        [2, () => ['runDue', () => live.expiry.runDue()]],
        [
          tokens.size === 0 ? 0 : 4,
          () => {
            const all = [...tokens.keys()];
            const uses = Array.from({ length: int(1, 6) }, () => [pick(all)!, pick(PRESENTATIONS)!] as const);
            const flush = chance(0.6);
            return [
              'recordUse',
              async () => {
                for (const [tok, pres] of uses)
                  live.verifyAndRecord(tok, pres, { ip: `10.0.0.${int(1, 9)}`, userAgent: 'rebuild-test' });
                if (flush) await live.usage.flush();
              },
            ];
          },
        ],
      ];
      const total = table.reduce((s, [w]) => s + w, 0);
      let x = rnd() * total;
      for (const [w, make] of table) {
        if ((x -= w) < 0) return make();
      }
      return table.find(([w]) => w > 0)![1]();
    };

    const settle = async (name: string, run: () => Promise<unknown>): Promise<void> => {
      try {
        await run();
        bump(ok, name);
      } catch (err) {
        // Domain refusals and unknown ids are part of a realistic history; anything else is a failure.
        if (err instanceof DomainError || err instanceof NotFoundError) bump(refused, `${name}:${err.code}`);
        else throw err;
      }
    };

    for (let i = 0; i < OPS; i++) {
      if (chance(0.1)) {
        // A handful of commands at once: group commit, retries on version conflicts, read-your-writes.
        const batch = Array.from({ length: int(2, 5) }, () => choose(false));
        await Promise.all(batch.map(([name, run]) => settle(name, run)));
      } else {
        const [name, run] = choose(true);
        await settle(name, run);
      }
    }
    await live.usage.flush();
    await live.expiry.runDue();

    const head = await live.store.headPosition();
    await live.read.waitFor(head);
    expect(live.read.position).to.equal(head);

    const byHand = await rebuildFromLog(live.store, 97);
    const reopened = await t.reopen();
    expect(await live.store.headPosition(), 'opening a second ledger wrote nothing').to.equal(head);
    expect(reopened.read.position).to.equal(head);

    const liveSnap = live.read.snapshot();
    expect(byHand.snapshot(), `seed ${SEED}: rebuilt from readAll`).to.deep.equal(liveSnap);
    expect(reopened.read.snapshot(), `seed ${SEED}: second ledger`).to.deep.equal(liveSnap);

    // Snapshot + tail = full replay, for cuts spread over the history (the image through JSON, as the file holds it).
    const fullImage = toImage(byHand);
    for (let i = 0; i < 12; i++) {
      const cut = i === 0 ? 1 : i === 11 ? head : int(1, head);
      const prefix = await rebuildFromLog(live.store, 53, new ReadModel(), cut);
      const restored = fromImage(JSON.parse(JSON.stringify(toImage(prefix))) as ReadModelImage);
      const whole = await rebuildFromLog(live.store, 71, restored);
      expect(whole.snapshot(), `seed ${SEED}: snapshot at ${cut} + tail`).to.deep.equal(liveSnap);
      expect(toImage(whole), `seed ${SEED}: snapshot at ${cut} + tail, every index`).to.deep.equal(fullImage);
    }

    // The same for the revocation feed's state (items and fan-out index), and a snapshot re-sourced at load equals a
    // feed built with that source from the start.
    const fullFeed = await feedFromLog(live.store, 89);
    const fullFeedImage = fullFeed.toImage();
    expect(fullFeed.items.length, `seed ${SEED}: the history revokes something`).to.be.greaterThan(0);
    for (let i = 0; i < 12; i++) {
      const cut = i === 0 ? 1 : i === 11 ? head : int(1, head);
      const prefix = await feedFromLog(live.store, 61, new FeedState(), cut);
      const restored = FeedState.fromImage(JSON.parse(JSON.stringify(prefix.toImage())) as FeedImage);
      const whole = await feedFromLog(live.store, 67, restored);
      expect(whole.toImage(), `seed ${SEED}: feed snapshot at ${cut} + tail`).to.deep.equal(fullFeedImage);
      expect(whole.items.map((it) => it.json)).to.deep.equal(fullFeed.items.map((it) => it.json));
    }
    const other = await feedFromLog(live.store, 500, new FeedState('urn:example:other'));
    const resourced = FeedState.fromImage(JSON.parse(JSON.stringify(fullFeedImage)) as FeedImage, 'urn:example:other');
    expect(resourced.items.map((it) => it.json)).to.deep.equal(other.items.map((it) => it.json));

    const codes = new Map<string, number>();
    for (const [token, keyId] of tokens) {
      for (const now of [t.clock.ms, t.clock.ms + 7 * 24 * 3600_000]) {
        for (const scopes of [undefined, ['keys:read'], ['data:write']]) {
          const a = live.read.verify(token, { now, scopes });
          const b = byHand.verify(token, { now, scopes });
          const c = reopened.read.verify(token, { now, scopes });
          const what = `seed ${SEED}: ${keyId} at ${now} for ${scopes?.join(',') ?? '-'}`;
          expect([b.code, b.key?.id], what).to.deep.equal([a.code, a.key?.id]);
          expect([c.code, c.key?.id], what).to.deep.equal([a.code, a.key?.id]);
          expect(a.key?.id).to.equal(keyId);
          if (now === t.clock.ms && scopes === undefined) bump(codes, a.code);
        }
      }
    }

    if (process.env.REBUILD_DEBUG) console.log({ ok, refused, codes, keys: keys.length, head });
    // The history must actually have covered the interesting paths.
    const failures = [...refused.values()].reduce((s, n) => s + n, 0);
    expect(failures, 'some commands were refused').to.be.greaterThan(10);
    for (const op of [
      'createKey',
      'revokeKey',
      'rotateKey',
      'runDue',
      'setMemberRole',
      'removeMember',
      'deactivateUser',
      'recordUse',
      'updateKey',
      'setPolicy',
    ]) {
      expect(ok.get(op) ?? 0, `${op} succeeded at least once (seed ${SEED})`).to.be.greaterThan(0);
    }
    expect(tokens.size).to.be.greaterThan(40);
    for (const code of ['VALID', 'REVOKED', 'EXPIRED'])
      expect(codes.get(code) ?? 0, `some keys end ${code}`).to.be.greaterThan(0);
    const types = new Set<string>();
    for (let after = -1; ;) {
      const page = await live.store.readAll({ after, maxCount: 1000 });
      for (const e of page.events) types.add(e.type);
      after = page.lastPosition;
      if (page.isEnd) break;
    }
    for (const type of [
      'ApiKeyUsed',
      'ApiKeyExpired',
      'ApiKeyRotated',
      'ApiKeyRevoked',
      'ApiKeyUpdated',
      'WorkspaceMemberRemoved',
      'WorkspacePolicySet',
      'UserDeactivated',
      'UserLoggedOut',
    ]) {
      expect(types, `the log holds ${type}`).to.include(type);
    }
  });
});
