// Point-in-time answers against an independent simulation: a randomized (seeded) history of users, memberships,
// deactivations, keys with and without expiry, revocations and rotations with grace, written on a frozen clock.
// The test keeps its own log of what it did and when, and answers asOf / validAt from that log alone.
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { join } from 'node:path';
import { AuditDb } from '../../projections/audit/audit-db.js';
import { AuditProjection, rebuildAudit } from '../../projections/audit/projection.js';
import { SqliteAuditStore } from '../../projections/audit/sqlite-store.js';
import { keyAsOf } from '../../services/audit/point-in-time.js';
import { keysValidAt, listAudit } from '../../services/audit/queries.js';
import { auditExtensions } from '../../projections/audit/timeline.js';
import { HttpError } from '../../services/http/errors.js';
import { SYSTEM, type Ledger } from '../../services/ledger.js';
import { makeLedger, type TestLedger } from '../support/ledger.js';
import { prng } from '../support/prng.js';
import { AUDIT_BACKENDS, postgresAuditStore } from '../support/audit-stores.js';

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

/** A value that changes over time: the last change at or before an instant (or a ledger position) wins. */
class Timeline<T> {
  private readonly changes: Array<{ t: number; pos: number; v: T }> = [];
  constructor(private readonly initial: T) {}
  set(t: number, pos: number, v: T): void {
    this.changes.push({ t, pos, v });
  }
  at(t: number): T {
    let v = this.initial;
    for (const c of this.changes) if (c.t <= t) v = c.v;
    return v;
  }
  atPosition(pos: number): T {
    let v = this.initial;
    for (const c of this.changes) if (c.pos <= pos) v = c.v;
    return v;
  }
  get now(): T {
    return this.changes.length === 0 ? this.initial : this.changes[this.changes.length - 1]!.v;
  }
}

describe('integration: point-in-time answers (asOf, validAt) against an independent simulation', function () {
  this.timeout(120_000);
  let t: TestLedger;
  let store: SqliteAuditStore;
  let db: AuditDb;
  let projection: AuditProjection;

  beforeEach(async () => {
    t = await makeLedger();
    store = SqliteAuditStore.open(join(t.dir, 'audit.db'), auditExtensions);
    db = store.db;
    projection = new AuditProjection(store, t.ledger.store, (m, err) => console.error(m, err));
    await projection.start();
  });
  afterEach(async () => {
    await projection.close();
    await store.close();
    await t.dispose();
  });

  it('matches the simulation at random instants, at every event boundary, and at recorded positions', async () => {
    const seed = Number(process.env.PIT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`      point-in-time seed: ${seed} (rerun with PIT_SEED=${seed})`);
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T | undefined =>
      xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)];
    const ledger: Ledger = t.ledger;
    const clock = t.clock;
    const now = (): number => clock.ms;
    const head = (): number => ledger.read.position;
    const T0 = now();

    // --- the world, and the test's own record of it
    const owner = await ledger.users.register(
      { email: 'owner@example.com', name: 'O', password: 'correct horse battery staple' },
      SYSTEM,
    );
    const wss = [
      (await ledger.workspaces.create('W1', owner.id, SYSTEM)).id,
      (await ledger.workspaces.create('W2', owner.id, SYSTEM)).id,
    ];
    const users = [owner.id];
    const active = new Map<string, Timeline<boolean>>([[owner.id, new Timeline(true)]]);
    const member = new Map<string, Timeline<boolean>>(); // `${ws} ${user}`
    const mkey = (ws: string, u: string): string => `${ws} ${u}`;
    for (const ws of wss)
      (member.set(mkey(ws, owner.id), new Timeline(false)), member.get(mkey(ws, owner.id))!.set(T0, head(), true));
    for (let i = 0; i < 5; i++) {
      const u = await ledger.users.register(
        { email: `u${i}@example.com`, name: `U${i}`, password: 'correct horse battery staple' },
        SYSTEM,
      );
      users.push(u.id);
      active.set(u.id, new Timeline(true));
      for (const ws of wss) member.set(mkey(ws, u.id), new Timeline(false));
      for (const ws of wss.slice(0, 1 + (i % 2))) {
        await ledger.workspaces.setMemberRole(ws, u.id, pick(['member', 'admin', 'auditor'] as const)!, SYSTEM);
        member.get(mkey(ws, u.id))!.set(now(), head(), true);
      }
    }
    const keys: SimKey[] = [];
    const boundaries = new Set<number>([T0]);
    const positions: Array<{ pos: number; t: number }> = [];

    const endOf = (k: SimKey): number =>
      Math.min(k.expiresAt ?? Infinity, k.graceEnd ?? Infinity, k.revokedAt ?? Infinity);
    const canHoldKeys = (ws: string, u: string): boolean => active.get(u)!.now && member.get(mkey(ws, u))!.now;
    const liveKeys = (): SimKey[] => keys.filter((k) => k.revokedAt === null && endOf(k) > now());

    const recordCreated = (
      ws: string,
      user: string,
      created: { key: { id: string; requestedExpiresAt: number | null; name: string } },
    ): SimKey => {
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
        const c = await ledger.keys.create(
          { userId: holder, workspaceId: ws, name: `k${step}`, expiresInSeconds: ttl },
          SYSTEM,
        );
        recordCreated(ws, holder, c);
      } else if (r < 0.44) {
        const k = pick(keys.filter((x) => x.revokedAt === null));
        if (k === undefined) continue;
        await ledger.keys.revoke(k.id, 'sim', SYSTEM);
        k.revokedAt = now();
        k.revokedPos = head();
      } else if (r < 0.56) {
        const k = pick(liveKeys().filter((x) => x.successor === null && canHoldKeys(x.ws, x.user)));
        if (k === undefined) continue;
        const grace = pick([0, 0, 30, 300])!;
        const c = await ledger.keys.rotate(k.id, grace, SYSTEM);
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
        await ledger.keys.update(k.id, { name }, SYSTEM);
        k.names.push({ t: now(), pos: head(), name });
      } else if (r < 0.72) {
        const ws = pick(wss)!;
        if (!member.get(mkey(ws, u))!.now) continue;
        await ledger.workspaces.removeMember(ws, u, SYSTEM);
        member.get(mkey(ws, u))!.set(now(), head(), false);
      } else if (r < 0.82) {
        const ws = pick(wss)!;
        await ledger.workspaces.setMemberRole(ws, u, pick(['member', 'admin', 'auditor'] as const)!, SYSTEM);
        member.get(mkey(ws, u))!.set(now(), head(), true);
      } else if (r < 0.91) {
        if (!active.get(u)!.now) continue;
        await ledger.users.deactivate(u, 'sim', SYSTEM);
        active.get(u)!.set(now(), head(), false);
      } else {
        if (active.get(u)!.now) continue;
        await ledger.users.reactivate(u, SYSTEM);
        active.get(u)!.set(now(), head(), true);
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
        .filter(
          (k) =>
            k.ws === ws &&
            k.createdAt <= at &&
            endOf(k) > at &&
            active.get(k.user)!.at(at) &&
            member.get(mkey(ws, k.user))!.at(at),
        )
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((k) => k.id);

    const expectedAsOf = (k: SimKey, at: number, upTo: (t: number, pos: number) => boolean) => {
      const revoked = k.revokedAt !== null && upTo(k.revokedAt, k.revokedPos!);
      const rotated = k.rotatedAt !== null && upTo(k.rotatedAt, k.rotatedPos!);
      const eol = Math.min(k.expiresAt ?? Infinity, rotated ? k.graceEnd! : Infinity);
      const phase = revoked ? 'revoked' : eol <= at ? 'expired' : rotated ? 'rotation_grace' : 'active';
      const name = k.names.filter((n) => upTo(n.t, n.pos)).pop()!.name;
      return {
        status: phase === 'rotation_grace' ? 'active' : phase,
        phase,
        name,
        rotatedTo: rotated ? k.successor : null,
      };
    };

    // --- compare: every boundary (and the instant before it), plus random instants
    const instants = new Set<number>();
    for (const b of boundaries) for (const d of [-1, 0, 1]) instants.add(b + d);
    for (let i = 0; i < 300; i++) instants.add(T0 - 5000 + Math.floor(rnd() * (end - T0 + 10_000)));
    let compared = 0;
    for (const at of instants) {
      for (const ws of wss) {
        expect(
          (await keysValidAt(store, ws, at)).map((x) => x.id),
          `validAt ${new Date(at).toISOString()} in ${ws} (seed ${seed})`,
        ).to.deep.equal(expectedValid(ws, at));
        compared++;
      }
    }

    const asOfSamples = [...instants].sort(() => rnd() - 0.5).slice(0, 120);
    let asOfCompared = 0;
    let verifiable = 0;
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
        expect({ status: got.status, phase: got.phase, name: got.name, rotatedTo: got.rotatedTo }, label).to.deep.equal(
          want,
        );
        expect(got.expiresAt, label).to.equal(k.expiresAt === null ? null : new Date(k.expiresAt).toISOString());
        // The owner as they were then, and whether the key would have verified: the same answer as validAt.
        const owner = got.owner as { id: string; active: boolean; role: string | null };
        expect({ id: owner.id, active: owner.active, member: owner.role !== null }, label).to.deep.equal({
          id: k.user,
          active: active.get(k.user)!.at(at),
          member: member.get(mkey(k.ws, k.user))!.at(at),
        });
        expect(got.wouldVerify, label).to.equal(expectedValid(k.ws, at).includes(k.id));
        if (got.wouldVerify) verifiable++;
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
        expect({ status: got.status, phase: got.phase, name: got.name, rotatedTo: got.rotatedTo }, label).to.deep.equal(
          want,
        );
        const owner = got.owner as { active: boolean; role: string | null };
        expect({ active: owner.active, member: owner.role !== null }, label).to.deep.equal({
          active: active.get(k.user)!.atPosition(p.pos),
          member: member.get(mkey(k.ws, k.user))!.atPosition(p.pos),
        });
        byPosition++;
      }
    }
    expect(compared).to.be.greaterThan(500);
    expect(asOfCompared).to.be.greaterThan(200);
    expect(verifiable).to.be.within(1, asOfCompared - 1); // both answers occur
    expect(byPosition).to.be.greaterThan(20);

    // The derived tables are the same after a rebuild from the log, after a backfill of an older audit.db, and in the
    // PostgreSQL store (its timelines are folded per batch, not written per event).
    const rebuilt = SqliteAuditStore.open(join(t.dir, 'audit-rebuilt.db'), auditExtensions);
    await rebuildAudit(rebuilt, ledger.store);
    db.db.prepare("DELETE FROM audit_meta WHERE name = 'timeline'").run();
    const backfilled = SqliteAuditStore.open(join(t.dir, 'audit.db'), auditExtensions);
    const pg = await postgresAuditStore();
    try {
      await rebuildAudit(pg.store, ledger.store);
      for (const at of [...instants].slice(0, 200)) {
        for (const ws of wss) {
          const want = expectedValid(ws, at);
          expect((await keysValidAt(rebuilt, ws, at)).map((x) => x.id)).to.deep.equal(want);
          expect((await keysValidAt(backfilled, ws, at)).map((x) => x.id)).to.deep.equal(want);
          expect(
            (await keysValidAt(pg.store, ws, at)).map((x) => x.id),
            'postgres',
          ).to.deep.equal(want);
        }
      }
    } finally {
      await rebuilt.close();
      await backfilled.close();
      await pg.dispose();
    }
  });
  it('upgrades a schema-1 audit.db in place: same rows and chain, key events get their key’s workspace, the workspace filter finds them', async () => {
    const ledger = t.ledger;
    const owner = await ledger.users.register(
      { email: 'o@example.com', name: 'Ö', password: 'correct horse battery staple' },
      SYSTEM,
    );
    const [w1, w2] = [
      (await ledger.workspaces.create('W1', owner.id, SYSTEM)).id,
      (await ledger.workspaces.create('W2', owner.id, SYSTEM)).id,
    ];
    for (let i = 0; i < 6; i++) {
      const k = await ledger.keys.create(
        { userId: owner.id, workspaceId: i % 2 === 0 ? w1 : w2, name: `k${i} “quoted”` },
        SYSTEM,
      );
      if (i % 3 === 0) await ledger.keys.revoke(k.key.id, 'test', SYSTEM);
      else await ledger.keys.update(k.key.id, { name: `renamed${i}` }, SYSTEM);
    }
    const file = join(t.dir, 'audit-v1.db');
    const fresh = new AuditDb(file, auditExtensions);
    await rebuildAudit(new SqliteAuditStore(fresh), ledger.store);
    const rows = (d: AuditDb): unknown[] =>
      d.db
        .prepare(
          'SELECT position, event_id, type, about_ws, prev_chain, chain, event, line FROM audit_events ORDER BY position',
        )
        .all();
    const want = rows(fresh);
    // Every key event is about its key's workspace, though revocations and updates carry only keyId.
    const keyEvents = want.filter((r) => (r as { type: string }).type.startsWith('ApiKey')) as Array<{
      about_ws: string | null;
    }>;
    expect(keyEvents.length).to.equal(12); // 6 created, 2 revoked, 4 renamed
    expect(keyEvents.every((r) => r.about_ws === w1 || r.about_ws === w2)).to.equal(true);
    fresh.close();
    // A file as version 1 wrote it: 4 KiB pages, prev_chain, chain and event stored, no about_ws, no line; schema 1.
    const v1file = join(t.dir, 'audit-v1-4k.db');
    const v1 = new Database(v1file);
    v1.pragma('page_size = 4096');
    v1.pragma('journal_mode = WAL');
    v1.exec(`
      ATTACH '${file}' AS s;
      CREATE TABLE audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO audit_meta SELECT * FROM s.audit_meta WHERE name IN ('position', 'chain');
      INSERT INTO audit_meta VALUES ('schema', '1');
      CREATE TABLE audit_events (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL, revision INTEGER NOT NULL,
        type TEXT NOT NULL, occurred_at TEXT NOT NULL, occurred_ms INTEGER NOT NULL, key_id TEXT, user_id TEXT, workspace_id TEXT,
        actor_type TEXT, actor_id TEXT, ip TEXT, user_agent TEXT, request_id TEXT, scheme TEXT, token_digest TEXT,
        prev_chain TEXT NOT NULL, chain TEXT NOT NULL, event TEXT NOT NULL);
      INSERT INTO audit_events SELECT position, event_id, stream_id, revision, type, occurred_at, occurred_ms, key_id, user_id, workspace_id,
        actor_type, actor_id, ip, user_agent, request_id, scheme, token_digest, prev_chain, chain, event FROM s.audit_events;
      CREATE INDEX audit_by_key ON audit_events (key_id, position) WHERE key_id IS NOT NULL;
      CREATE INDEX audit_by_ws ON audit_events (workspace_id, position) WHERE workspace_id IS NOT NULL;
      CREATE INDEX audit_by_time ON audit_events (occurred_ms, position);`);
    v1.close();
    const upgraded = new AuditDb(v1file, auditExtensions);
    try {
      expect(rows(upgraded)).to.deep.equal(want);
      expect(upgraded.db.prepare("SELECT value FROM audit_meta WHERE name = 'schema'").pluck().get()).to.equal('2');
      const page = await listAudit(new SqliteAuditStore(upgraded), {
        filters: { workspaceId: w1, type: ['ApiKeyRevoked', 'ApiKeyUpdated'] },
        scope: null,
        cursor: null,
        limit: 100,
        order: 'asc',
      });
      expect(page.items.map((i) => i.type).sort()).to.deep.equal(['ApiKeyRevoked', 'ApiKeyUpdated', 'ApiKeyUpdated']);
      // It keeps projecting where it stopped.
      await ledger.keys.create({ userId: owner.id, workspaceId: w2, name: 'after' }, SYSTEM);
      const tail = await ledger.store.readAll({ after: upgraded.checkpoint.position, maxCount: 100 });
      upgraded.applyBatch(tail.events);
      expect(upgraded.checkpoint.position).to.equal(ledger.read.position);
      // A rebuild starts the file afresh, with today's page size, and writes the same rows.
      const before = rows(upgraded);
      expect(upgraded.db.pragma('page_size', { simple: true })).to.equal(4096);
      await rebuildAudit(new SqliteAuditStore(upgraded), ledger.store);
      expect(upgraded.db.pragma('page_size', { simple: true })).to.equal(16_384);
      expect(rows(upgraded)).to.deep.equal(before);
    } finally {
      upgraded.close();
    }
  });
  it('time filters stay exact when event times go backwards (clock skew between writers); exports share the same WHERE clause', async () => {
    // Synthetic events straight into each audit store: times mostly rising, now and then stamped up to 90 s in the past.
    const rnd = prng(Number(process.env.PIT_SEED ?? 7));
    const T = Date.parse('2026-05-01T00:00:00.000Z');
    const times: number[] = [];
    let clock = T;
    const events = Array.from({ length: 3000 }, (_, i) => {
      clock += Math.floor(rnd() * 2000);
      const at = rnd() < 0.1 ? clock - Math.floor(rnd() * 90_000) : clock;
      times.push(at);
      return {
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        streamId: `user-usr_${i % 7}`,
        revision: i,
        position: i + 1,
        type: i % 5 === 0 ? 'UserLoginFailed' : 'UserLoginSucceeded',
        data: { userId: `usr_${i % 7}` },
        metadata: {
          eventId: `e${i}`,
          occurredAt: new Date(at).toISOString(),
          actor: { type: 'system', id: 'system' },
          request: {},
        },
      };
    });
    for (const backend of AUDIT_BACKENDS) {
      const opened = await backend.open();
      const audit = opened.store;
      try {
        for (let i = 0; i < events.length; i += 500) await audit.applyBatch(events.slice(i, i + 500));
        let checked = 0;
        for (let n = 0; n < 150; n++) {
          const from = T + Math.floor(rnd() * (clock - T));
          const to = from + 1000 + Math.floor(rnd() * (n % 3 === 0 ? 600_000 : 20_000));
          const type = n % 4 === 0 ? ['UserLoginFailed'] : undefined;
          const want = events
            .filter((e, i) => times[i]! >= from && times[i]! < to && (type === undefined || type.includes(e.type)))
            .map((e) => e.position)
            .reverse();
          const filters = {
            from: new Date(from).toISOString(),
            to: new Date(to).toISOString(),
            ...(type ? { type } : {}),
          };
          const label = `${backend.name} ${JSON.stringify(filters)}`;
          const got = (
            await listAudit(audit, { filters, scope: null, cursor: null, limit: 1000, order: 'desc' })
          ).items.map((i) => i.position);
          expect(got, label).to.deep.equal(want);
          const onlyFrom = (
            await listAudit(audit, {
              filters: { from: filters.from },
              scope: null,
              cursor: null,
              limit: 1000,
              order: 'asc',
            })
          ).items.map((i) => i.position);
          expect(onlyFrom, `${backend.name} from ${filters.from}`).to.deep.equal(
            events
              .filter((_, i) => times[i]! >= from)
              .map((e) => e.position)
              .slice(0, 1000),
          );
          checked += want.length;
        }
        expect(checked).to.be.greaterThan(500);
        // Late events really do sit after later-stamped ones: the skew bound was needed.
        if (audit instanceof SqliteAuditStore)
          expect(
            Number(audit.db.db.prepare("SELECT value FROM audit_meta WHERE name = 'ms_skew'").pluck().get()),
          ).to.be.greaterThan(10_000);
      } finally {
        await opened.dispose();
      }
    }
  });
});
