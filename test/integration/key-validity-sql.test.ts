// The audit timeline answers "which keys would have verified at T" in SQL, which cannot call the domain's keyPhase.
// So this checks they agree: random key histories (decided by the real key decider, with owner deactivations and
// membership changes between them) are projected into audit.db, and at every event boundary and at random instants
// the SQL's validAt answer must equal keyPhase over the same events up to that instant.
import { expect } from 'chai';
import fc from 'fast-check';
import type { ApiKeyEvent, LedgerEvent } from '../../events/catalog.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { keysValidAt } from '../../services/audit/queries.js';
import { apiKeyDecider, type ApiKeyCommand, type ApiKeyState } from '../../services/domain/api-key.js';
import { isLive, keyPhase, type KeyPhase } from '../../services/domain/key-validity.js';
import { AUDIT_BACKENDS, type OpenedAuditStore } from '../support/audit-stores.js';
import { createKeyCommand } from '../support/events.js';

const T0 = Date.UTC(2026, 0, 1);
const USERS = ['usr_a', 'usr_b'] as const;
const WORKSPACES = ['ws_1', 'ws_2'] as const;

type Step =
  | { kind: 'create'; user: number; ws: number; ttlMs: number | null }
  | { kind: 'rotate'; key: number; graceMs: number }
  | { kind: 'revoke'; key: number }
  | { kind: 'expire'; key: number }
  | { kind: 'use'; key: number }
  | { kind: 'deactivate' | 'reactivate'; user: number }
  | { kind: 'remove' | 'readd'; user: number; ws: number };

const anyUser = fc.integer({ min: 0, max: USERS.length - 1 });
const anyWs = fc.integer({ min: 0, max: WORKSPACES.length - 1 });
const anyKey = fc.nat({ max: 20 });
// Small steps, often none at all, so events share instants and expiries land between, on and after them.
const dt = fc.oneof(
  fc.constant(0),
  fc.constant(1),
  fc.integer({ min: 2, max: 999 }),
  fc.integer({ min: 1000, max: 4000 }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      user: anyUser,
      ws: anyWs,
      ttlMs: fc.option(fc.integer({ min: 1, max: 8000 })),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('rotate' as const),
      key: anyKey,
      graceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6000 })),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('revoke' as const), key: anyKey }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('expire' as const), key: anyKey }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('use' as const), key: anyKey }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constantFrom('deactivate' as const, 'reactivate' as const), user: anyUser }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ kind: fc.constantFrom('remove' as const, 'readd' as const), user: anyUser, ws: anyWs }),
    weight: 2,
  },
);
const history = fc.array(fc.tuple(dt, step), { minLength: 1, maxLength: 40 });

interface Timed {
  at: number;
  event: LedgerEvent;
  streamId: string;
}

/** Runs the steps: key commands through the real decider (refusals write nothing), account and membership facts as the deciders would write them. */
function play(steps: ReadonlyArray<[number, Step]>): Timed[] {
  const out: Timed[] = [];
  const keys: Array<{ id: string; user: string; ws: string; state: ApiKeyState }> = [];
  const active = new Map<string, boolean>(USERS.map((u) => [u, true]));
  const member = new Set<string>(USERS.flatMap((u) => WORKSPACES.map((w) => `${w}/${u}`)));
  let now = T0;
  const emit = (streamId: string, ...events: LedgerEvent[]): void => {
    for (const event of events) out.push({ at: now, event, streamId });
  };
  for (const u of USERS)
    emit(`user-${u}`, {
      type: 'UserRegistered',
      data: { userId: u, email: `${u}@example.com`, name: u, passwordHash: 'x', systemRole: 'user' },
    });
  for (const w of WORKSPACES) {
    emit(`workspace-${w}`, { type: 'WorkspaceCreated', data: { workspaceId: w, name: w, ownerId: USERS[0] } });
    for (const u of USERS)
      emit(`workspace-${w}`, {
        type: 'WorkspaceMemberRoleSet',
        data: { workspaceId: w, userId: u, role: u === USERS[0] ? 'owner' : 'member' },
      });
  }
  const decideKey = (k: (typeof keys)[number], cmd: ApiKeyCommand): ApiKeyEvent[] => {
    let events: ApiKeyEvent[];
    try {
      events = apiKeyDecider.decide(cmd, k.state);
    } catch {
      return []; // refused: nothing written
    }
    for (const e of events) k.state = apiKeyDecider.evolve(k.state, e);
    emit(`apikey-${k.id}`, ...events);
    return events;
  };
  const create = (user: string, ws: string, ttlMs: number | null, rotatedFrom: string | null): string => {
    const k = { id: `key_${keys.length}`, user, ws, state: apiKeyDecider.initialState() };
    keys.push(k);
    const expiresAt = ttlMs === null ? null : new Date(now + ttlMs);
    decideKey(
      k,
      createKeyCommand(new Date(now), {
        keyId: k.id,
        userId: user,
        workspaceId: ws,
        expiresAt,
        rotatedFrom,
        digest: keys.length.toString(16).padStart(64, '0'),
      }),
    );
    return k.id;
  };
  for (const [d, s] of steps) {
    now += d;
    const at = new Date(now);
    switch (s.kind) {
      case 'create':
        create(USERS[s.user]!, WORKSPACES[s.ws]!, s.ttlMs, null);
        break;
      case 'rotate': {
        const k = keys[s.key % Math.max(1, keys.length)];
        if (!k) break;
        // A rotation that is written brings its successor, at the same instant.
        const successorId = `key_${keys.length}`;
        const events = decideKey(k, {
          type: 'RotateApiKey',
          now: at,
          successorId,
          graceSeconds: s.graceMs / 1000,
          maxGraceSeconds: 3600,
        });
        if (events.length > 0) create(k.user, k.ws, null, k.id);
        break;
      }
      case 'revoke':
      case 'expire':
      case 'use': {
        const k = keys[s.key % Math.max(1, keys.length)];
        if (!k) break;
        if (s.kind === 'revoke')
          decideKey(k, { type: 'RevokeApiKey', now: at, reason: null, by: { type: 'user', id: k.user } });
        else if (s.kind === 'expire') decideKey(k, { type: 'ExpireApiKey', now: at });
        else
          decideKey(k, {
            type: 'RecordApiKeyUse',
            count: 1,
            firstAt: at,
            lastAt: at,
            lastIp: null,
            lastUserAgent: null,
            presentation: 'bearer',
            presentations: { bearer: 1 },
          });
        break;
      }
      case 'deactivate':
      case 'reactivate': {
        const u = USERS[s.user]!;
        if (active.get(u) === (s.kind === 'reactivate')) break; // the user decider writes a change only
        active.set(u, s.kind === 'reactivate');
        emit(
          `user-${u}`,
          s.kind === 'deactivate'
            ? { type: 'UserDeactivated', data: { userId: u, reason: null } }
            : { type: 'UserReactivated', data: { userId: u } },
        );
        break;
      }
      case 'remove':
      case 'readd': {
        const u = USERS[s.user]!;
        const w = WORKSPACES[s.ws]!;
        const m = `${w}/${u}`;
        if (s.kind === 'remove') {
          if (!member.delete(m)) break;
          emit(`workspace-${w}`, { type: 'WorkspaceMemberRemoved', data: { workspaceId: w, userId: u } });
        } else {
          member.add(m); // a role set on a member changes the role and keeps the membership
          emit(`workspace-${w}`, {
            type: 'WorkspaceMemberRoleSet',
            data: { workspaceId: w, userId: u, role: 'auditor' },
          });
        }
        break;
      }
    }
  }
  return out;
}

function recorded(log: readonly Timed[]): RecordedEvent[] {
  const revisions = new Map<string, number>();
  return log.map((t, i) => {
    const revision = revisions.get(t.streamId) ?? 0;
    revisions.set(t.streamId, revision + 1);
    const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    return {
      id,
      streamId: t.streamId,
      revision,
      position: i,
      type: t.event.type,
      data: t.event.data,
      metadata: {
        eventId: id,
        occurredAt: new Date(t.at).toISOString(),
        actor: { type: 'system', id: 'system' },
        request: {},
        correlationId: 'c',
        causationId: null,
        schemaVersion: 1,
      },
    };
  });
}

/** keyPhase of every key that exists at `at`, from the events stamped at or before it (the state after all of them). */
function phasesAt(log: readonly Timed[], at: number): Map<string, { ws: string; phase: KeyPhase }> {
  const keys = new Map<string, { ws: string; user: string; state: ApiKeyState }>();
  const active = new Map<string, boolean>();
  const roles = new Map<string, string | null>();
  for (const { at: t, event: e } of log) {
    if (t > at) break;
    if (e.type === 'UserDeactivated') active.set(e.data.userId, false);
    else if (e.type === 'UserReactivated') active.set(e.data.userId, true);
    else if (e.type === 'WorkspaceMemberRoleSet') roles.set(`${e.data.workspaceId}/${e.data.userId}`, e.data.role);
    else if (e.type === 'WorkspaceMemberRemoved') roles.set(`${e.data.workspaceId}/${e.data.userId}`, null);
    else if (e.type.startsWith('ApiKey')) {
      const ke = e as ApiKeyEvent;
      const id = ke.data.keyId;
      const k =
        keys.get(id) ??
        (ke.type === 'ApiKeyCreated'
          ? { ws: ke.data.workspaceId, user: ke.data.userId, state: apiKeyDecider.initialState() }
          : undefined);
      if (!k) continue;
      k.state = apiKeyDecider.evolve(k.state, ke);
      keys.set(id, k);
    }
  }
  const out = new Map<string, { ws: string; phase: KeyPhase }>();
  for (const [id, k] of keys) {
    const s = k.state;
    if (!s.exists) continue;
    const phase = keyPhase(
      s.status,
      s.expiresAt,
      s.graceEndsAt,
      active.get(k.user) ?? true,
      roles.get(`${k.ws}/${k.user}`) ?? null,
      at,
    );
    out.set(id, { ws: k.ws, phase });
  }
  return out;
}

/** The events in one to four batches, so a store that folds per batch also meets keys made in an earlier one. */
async function* batches(events: RecordedEvent[], cuts: readonly number[]): AsyncGenerator<RecordedEvent[]> {
  const at = [...new Set(cuts.map((c) => Math.floor(c * events.length)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...at, events.length]) {
    if (to > from) yield events.slice(from, to);
    from = Math.max(from, to);
  }
}

for (const backend of AUDIT_BACKENDS)
  describe(`integration: the audit timeline SQL agrees with keyPhase (${backend.name})`, function () {
    this.timeout(300_000);
    let opened: OpenedAuditStore;
    before(async () => {
      opened = await backend.open();
    });
    after(async () => {
      await opened.dispose();
    });

    it('validAt lists exactly the keys keyPhase calls active or rotation_grace, at every boundary and at random instants', async () => {
      const store = opened.store;
      const seed = Number(process.env.KEY_VALIDITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
      let checked = 0;
      const phasesSeen = new Set<KeyPhase>();
      await fc.assert(
        fc.asyncProperty(
          history,
          fc.array(fc.integer({ min: -10, max: 60_000 }), { maxLength: 10 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
          async (steps, offsets, cuts) => {
            const log = play(steps);
            await store.rebuild(batches(recorded(log), cuts));
            const boundaries = [...new Set(log.map((t) => t.at))].flatMap((t) => [t - 1, t, t + 1]);
            // Expiries and grace ends are instants too, though no event is stamped there.
            const ends = log.flatMap((t) =>
              t.event.type === 'ApiKeyCreated' && t.event.data.expiresAt !== null
                ? [Date.parse(t.event.data.expiresAt)]
                : t.event.type === 'ApiKeyRotated'
                  ? [Date.parse(t.event.data.graceEndsAt)]
                  : [],
            );
            for (const at of [
              ...boundaries,
              ...ends.flatMap((t) => [t - 1, t, t + 1]),
              ...offsets.map((o) => T0 + o),
            ]) {
              const phases = phasesAt(log, at);
              for (const p of phases.values()) phasesSeen.add(p.phase);
              for (const ws of WORKSPACES) {
                const expected = [...phases].filter(([, k]) => k.ws === ws && isLive(k.phase)).map(([id]) => id);
                const sql = (await keysValidAt(store, ws, at)).map((k) => k.id);
                const why = [...phases].filter(([, k]) => k.ws === ws).map(([id, k]) => `${id}:${k.phase}`);
                expect([...sql].sort(), `${ws} at T0+${at - T0}ms (${why.join(', ')})`).to.deep.equal(
                  [...expected].sort(),
                );
                checked++;
              }
            }
          },
        ),
        { seed, numRuns: backend.name === 'sqlite' ? 150 : 60 },
      );
      // The generator reaches every phase, so the comparison covered each branch of keyPhase.
      expect([...phasesSeen].sort()).to.deep.equal([
        'active',
        'expired',
        'not_a_member',
        'owner_inactive',
        'revoked',
        'rotation_grace',
      ]);
      expect(checked).to.be.greaterThan(backend.name === 'sqlite' ? 2_000 : 800);
    });
  });
