// Point-in-time answers against an independent simulation: a randomized (seeded) history of users, memberships,
// deactivations, keys with and without expiry, revocations and rotations with grace, written on a frozen clock.
// The test keeps its own log of what it did and when, and answers asOf / validAt from that log alone.
import { expect } from 'chai';
import { join } from 'node:path';
import { AuditDb } from '../../services/audit/audit-db.js';
import { AuditProjection, rebuildAudit } from '../../services/audit/projection.js';
import { keyAsOf } from '../../services/audit/point-in-time.js';
import { keysValidAt } from '../../services/audit/queries.js';
import { auditExtensions } from '../../services/audit/timeline.js';
import { HttpError } from '../../services/http/errors.js';
import { SYSTEM, type Ledger } from '../../services/ledger.js';
import { makeLedger, type TestLedger } from '../support/ledger.js';
import { prng } from '../support/prng.js';

interface SimKey {
  id: string;
  ws: string;
  user: string;
  createdAt: number;
  createdPos: number;
  expiresAt: number | null;
  revokedAt: number | null;
  rotatedAt: number | null;
  graceEnd: number | null;
  successor: string | null;
  names: Array<{ t: number; pos: number; name: string }>;
  rotatedPos: number | null;
  revokedPos: number | null;
}

/** A value that changes over time: the last change at or before an instant wins. */
class Timeline<T> {
  private readonly changes: Array<{ t: number; v: T }> = [];
  constructor(private readonly initial: T) {}
  set(t: number, v: T): void {
    this.changes.push({ t, v });
  }
  at(t: number): T {
    let v = this.initial;
    for (const c of this.changes) if (c.t <= t) v = c.v;
    return v;
  }
  get now(): T {
    return this.changes.length === 0 ? this.initial : this.changes[this.changes.length - 1]!.v;
  }
}

describe('integration: point-in-time answers (asOf, validAt) against an independent simulation', function () {
  this.timeout(120_000);
  let t: TestLedger;
  let db: AuditDb;
  let projection: AuditProjection;

  beforeEach(async () => {
    t = await makeLedger();
    db = new AuditDb(join(t.dir, 'audit.db'), auditExtensions);
    projection = new AuditProjection(db, t.ledger.store, (m, err) => console.error(m, err));
    await projection.start();
  });
  afterEach(async () => {
    await projection.stop();
    db.close();
    await t.dispose();
  });

  it('matches the simulation at random instants, at every event boundary, and at recorded positions', async () => {
    const seed = Number(process.env.PIT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`      point-in-time seed: ${seed} (rerun with PIT_SEED=${seed})`);
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)]);
    const ledger: Ledger = t.ledger;
    const clock = t.clock;
    const now = (): number => clock.ms;
    const head = (): number => ledger.readModel.position;
    const T0 = now();

    // --- the world, and the test's own record of it
    const owner = await ledger.registerUser({ email: 'owner@example.com', name: 'O', password: 'correct horse battery staple' }, SYSTEM);
    const wss = [(await ledger.createWorkspace('W1', owner.id, SYSTEM)).id, (await ledger.createWorkspace('W2', owner.id, SYSTEM)).id];
    const users = [owner.id];
    const active = new Map<string, Timeline<boolean>>([[owner.id, new Timeline(true)]]);
    const member = new Map<string, Timeline<boolean>>(); // `${ws} ${user}`
    const mkey = (ws: string, u: string): string => `${ws} ${u}`;
    for (const ws of wss) (member.set(mkey(ws, owner.id), new Timeline(false)), member.get(mkey(ws, owner.id))!.set(T0, true));
    for (let i = 0; i < 5; i++) {
      const u = await ledger.registerUser({ email: `u${i}@example.com`, name: `U${i}`, password: 'correct horse battery staple' }, SYSTEM);
      users.push(u.id);
      active.set(u.id, new Timeline(true));
      for (const ws of wss) member.set(mkey(ws, u.id), new Timeline(false));
      for (const ws of wss.slice(0, 1 + (i % 2))) {
        await ledger.setMemberRole(ws, u.id, pick(['member', 'admin', 'auditor'] as const)!, SYSTEM);
        member.get(mkey(ws, u.id))!.set(now(), true);
      }
    }
    const keys: SimKey[] = [];
    const boundaries = new Set<number>([T0]);
    const positions: Array<{ pos: number; t: number }> = [];

    const endOf = (k: SimKey): number => Math.min(k.expiresAt ?? Infinity, k.graceEnd ?? Infinity, k.revokedAt ?? Infinity);
    const canHoldKeys = (ws: string, u: string): boolean => active.get(u)!.now && member.get(mkey(ws, u))!.now;
    const liveKeys = (): SimKey[] => keys.filter((k) => k.revokedAt === null && endOf(k) > now());

    const recordCreated = (ws: string, user: string, created: { key: { id: string; requestedExpiresAt: number | null; name: string } }): SimKey => {
      const k: SimKey = {
        id: created.key.id,
        ws,
        user,
        createdAt: now(),
        createdPos: head(),
        expiresAt: created.key.requestedExpiresAt,
        revokedAt: null,
        rotatedAt: null,
        graceEnd: null,
        successor: null,
        names: [{ t: now(), pos: head(), name: created.key.name }],
        rotatedPos: null,
        revokedPos: null,
      };
      keys.push(k);
      if (k.expiresAt !== null) boundaries.add(k.expiresAt);
      return k;
    };

    // --- the randomized history
    for (let step = 0; step < 260; step++) {
      clock.advance(pick([0, 0, 1, 5, 30, 60, 120, 600])!);
      await ledger.expiry.runDue(); // expiry events are written when due, as the timer would
      const r = rnd();
      const u = pick(users.slice(1))!;
      if (r < 0.32) {
        const ws = pick(wss)!;
        const holder = pick(users.filter((x) => canHoldKeys(ws, x)));
        if (holder === undefined) continue;
        const ttl = pick([null, null, 30, 90, 600, 3600]);
        const c = await ledger.createKey({ userId: holder, workspaceId: ws, name: `k${step}`, expiresInSeconds: ttl }, SYSTEM);
        recordCreated(ws, holder, c);
      } else if (r < 0.44) {
        const k = pick(keys.filter((x) => x.revokedAt === null));
        if (k === undefined) continue;
        await ledger.revokeKey(k.id, 'sim', SYSTEM);
        k.revokedAt = now();
        k.revokedPos = head();
      } else if (r < 0.56) {
        const k = pick(liveKeys().filter((x) => x.successor === null && canHoldKeys(x.ws, x.user)));
        if (k === undefined) continue;
        const grace = pick([0, 0, 30, 300])!;
        const c = await ledger.rotateKey(k.id, grace, SYSTEM);
        k.rotatedAt = now();
        k.graceEnd = now() + grace * 1000;
        k.successor = c.key.id;
        boundaries.add(k.graceEnd);
        const succ = recordCreated(k.ws, k.user, c);
        k.rotatedPos = succ.createdPos; // the rotation's events end with the successor's creation
      } else if (r < 0.62) {
        const k = pick(liveKeys());
        if (k === undefined) continue;
        const name = `renamed-${step}`;
        await ledger.updateKey(k.id, { name }, SYSTEM);
        k.names.push({ t: now(), pos: head(), name });
      } else if (r < 0.72) {
        const ws = pick(wss)!;
        if (!member.get(mkey(ws, u))!.now) continue;
        await ledger.removeMember(ws, u, SYSTEM);
        member.get(mkey(ws, u))!.set(now(), false);
      } else if (r < 0.82) {
        const ws = pick(wss)!;
        await ledger.setMemberRole(ws, u, pick(['member', 'admin', 'auditor'] as const)!, SYSTEM);
        member.get(mkey(ws, u))!.set(now(), true);
      } else if (r < 0.91) {
        if (!active.get(u)!.now) continue;
        await ledger.deactivateUser(u, 'sim', SYSTEM);
        active.get(u)!.set(now(), false);
      } else {
        if (active.get(u)!.now) continue;
        await ledger.reactivateUser(u, SYSTEM);
        active.get(u)!.set(now(), true);
      }
      boundaries.add(now());
      positions.push({ pos: head(), t: now() });
    }
    clock.advance(3600);
    await ledger.expiry.runDue();
    await projection.caughtUp();
    const end = now();
    expect(keys.length).to.be.greaterThan(30);

    // --- the expected answers, from the test's log only
    const expectedValid = (ws: string, at: number): string[] =>
      keys
        .filter((k) => k.ws === ws && k.createdAt <= at && endOf(k) > at && active.get(k.user)!.at(at) && member.get(mkey(ws, k.user))!.at(at))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((k) => k.id);

    const expectedAsOf = (k: SimKey, at: number, upTo: (t: number, pos: number) => boolean) => {
      const revoked = k.revokedAt !== null && upTo(k.revokedAt, k.revokedPos!);
      const rotated = k.rotatedAt !== null && upTo(k.rotatedAt, k.rotatedPos!);
      const eol = Math.min(k.expiresAt ?? Infinity, rotated ? k.graceEnd! : Infinity);
      const phase = revoked ? 'revoked' : eol <= at ? 'expired' : rotated ? 'rotation_grace' : 'active';
      const name = k.names.filter((n) => upTo(n.t, n.pos)).pop()!.name;
      return { status: phase === 'rotation_grace' ? 'active' : phase, phase, name, rotatedTo: rotated ? k.successor : null };
    };

    // --- compare: every boundary (and the instant before it), plus random instants
    const instants = new Set<number>();
    for (const b of boundaries) for (const d of [-1, 0, 1]) instants.add(b + d);
    for (let i = 0; i < 300; i++) instants.add(T0 - 5000 + Math.floor(rnd() * (end - T0 + 10_000)));
    let compared = 0;
    for (const at of instants) {
      for (const ws of wss) {
        expect(
          keysValidAt(db.db, ws, at).map((x) => x.id),
          `validAt ${new Date(at).toISOString()} in ${ws} (seed ${seed})`,
        ).to.deep.equal(expectedValid(ws, at));
        compared++;
      }
    }

    const asOfSamples = [...instants].sort(() => rnd() - 0.5).slice(0, 120);
    let asOfCompared = 0;
    for (const at of asOfSamples) {
      for (const k of keys.filter(() => rnd() < 0.35)) {
        const label = `asOf ${new Date(at).toISOString()} of ${k.id} (seed ${seed})`;
        if (at < k.createdAt) {
          const err = await keyAsOf(ledger, k.id, { kind: 'time', ms: at }).catch((e: unknown) => e);
          expect(err, label).to.be.instanceOf(HttpError);
          expect((err as HttpError).status, label).to.equal(404);
          continue;
        }
        const got = await keyAsOf(ledger, k.id, { kind: 'time', ms: at });
        const want = expectedAsOf(k, at, (tt) => tt <= at);
        expect({ status: got.status, phase: got.phase, name: got.name, rotatedTo: got.rotatedTo }, label).to.deep.equal(want);
        expect(got.expiresAt, label).to.equal(k.expiresAt === null ? null : new Date(k.expiresAt).toISOString());
        asOfCompared++;
      }
    }

    // By position: exactly after one of the recorded actions.
    let byPosition = 0;
    for (const p of positions.filter(() => rnd() < 0.25)) {
      for (const k of keys.filter(() => rnd() < 0.3)) {
        const label = `asOf position ${p.pos} of ${k.id} (seed ${seed})`;
        if (k.createdPos > p.pos) {
          const err = await keyAsOf(ledger, k.id, { kind: 'position', position: p.pos }).catch((e: unknown) => e);
          expect((err as HttpError).status, label).to.equal(404);
          continue;
        }
        const got = await keyAsOf(ledger, k.id, { kind: 'position', position: p.pos });
        const want = expectedAsOf(k, p.t, (_t, pos) => pos <= p.pos);
        expect({ status: got.status, phase: got.phase, name: got.name, rotatedTo: got.rotatedTo }, label).to.deep.equal(want);
        byPosition++;
      }
    }
    expect(compared).to.be.greaterThan(500);
    expect(asOfCompared).to.be.greaterThan(200);
    expect(byPosition).to.be.greaterThan(20);

    // The derived tables are the same after a rebuild from the log, and after a backfill of an older audit.db.
    const rebuilt = new AuditDb(join(t.dir, 'audit-rebuilt.db'), auditExtensions);
    await rebuildAudit(rebuilt, ledger.store);
    db.db.prepare("DELETE FROM audit_meta WHERE name = 'timeline'").run();
    const backfilled = new AuditDb(join(t.dir, 'audit.db'), auditExtensions);
    try {
      for (const at of [...instants].slice(0, 200)) {
        for (const ws of wss) {
          const want = expectedValid(ws, at);
          expect(keysValidAt(rebuilt.db, ws, at).map((x) => x.id)).to.deep.equal(want);
          expect(keysValidAt(backfilled.db, ws, at).map((x) => x.id)).to.deep.equal(want);
        }
      }
    } finally {
      rebuilt.close();
      backfilled.close();
    }
  });
});
