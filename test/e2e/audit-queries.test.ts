// Audit queries against a real server: every filter (checked against the raw log), position paging that stays
// stable while events arrive, permissions, key history with rotation lineage, asOf, validAt, and no secret anywhere.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { RecordedEvent } from '../../events/store/types.js';
import { auditPlugin } from '../../services/audit/plugin.js';
import { SYSTEM, type Ledger } from '../../services/ledger.js';
import { waitUntil } from '../support/async.js';
import { TestClock } from '../support/ledger.js';
import { auditServerEnv } from '../support/audit-stores.js';
import { startTestServer, type Res, type TestServer } from '../support/server.js';

const PASSWORD = 'correct horse battery staple';
const T0 = Date.parse('2026-03-01T00:00:00.000Z');

type Data = Record<string, unknown>;
const data = (e: RecordedEvent): Data => e.data as Data;
const meta = (e: RecordedEvent): { occurredAt: string; actor: { id: string } } =>
  e.metadata as { occurredAt: string; actor: { id: string } };

async function allEvents(ledger: Ledger): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let after = -1; ;) {
    const p = await ledger.store.readAll({ after, maxCount: 1000 });
    out.push(...p.events);
    after = p.lastPosition;
    if (p.isEnd || p.events.length === 0) return out;
  }
}

interface World {
  ownerA: string;
  wsA: string;
  wsB: string;
  auditorId: string;
  keyA: { id: string; token: string };
  keyB: { id: string; token: string };
}

for (const backend of ['sqlite', 'postgres'] as const)
  describe(`e2e: audit queries, history, asOf and validAt (${backend})`, function () {
    let pg: Awaited<ReturnType<typeof auditServerEnv>>;
    this.timeout(60_000);
    let s: TestServer;
    let ledger: Ledger;
    let clock: TestClock;
    let admin: string;
    let w: World;
    const seen: string[] = []; // every response body, checked for secrets at the end of each test
    const secrets: string[] = [];

    async function req(method: string, path: string, token: string = admin, body?: unknown): Promise<Res> {
      const r = await s.request(method, path, body === undefined ? { token } : { token, body });
      if (method === 'GET') seen.push(r.text); // writes that create keys answer with the token by design
      return r;
    }

    async function get(path: string, token: string = admin): Promise<any> {
      const r = await req('GET', path, token);
      expect(r.status, `${path}: ${r.text.slice(0, 300)}`).to.equal(200);
      return r.body;
    }

    async function walk(path: string, token = admin): Promise<any[]> {
      const out: any[] = [];
      let cursor: string | null = null;
      for (;;) {
        const sep = path.includes('?') ? '&' : '?';
        const p = await get(`${path}${cursor === null ? '' : `${sep}cursor=${cursor}`}`, token);
        out.push(...p.items);
        if (!p.hasMore) return out;
        cursor = p.nextCursor;
      }
    }

    beforeEach(async () => {
      seen.length = 0;
      secrets.length = 0;
      clock = new TestClock(T0);
      pg = await auditServerEnv(backend);
      s = await startTestServer(pg.env, [auditPlugin()], undefined, { clock: clock.now });
      ledger = s.running.ledger;
      const a = await ledger.users.register({ email: 'a@example.com', name: 'A', password: PASSWORD }, SYSTEM);
      const wsA = (await ledger.workspaces.create('A', a.id, SYSTEM)).id;
      const b = await ledger.users.register({ email: 'b@example.com', name: 'B', password: PASSWORD }, SYSTEM);
      const wsB = (await ledger.workspaces.create('B', b.id, SYSTEM)).id;
      const auditor = await ledger.users.register(
        { email: 'aud@example.com', name: 'Aud', password: PASSWORD, workspaceId: wsA, role: 'auditor' },
        SYSTEM,
      );
      await ledger.users.register(
        { email: 'm@example.com', name: 'M', password: PASSWORD, workspaceId: wsA, role: 'member' },
        SYSTEM,
      );
      clock.advance(60);
      const ka = await ledger.keys.create({ userId: a.id, workspaceId: wsA, name: 'a1', retrievable: true }, SYSTEM);
      const kb = await ledger.keys.create({ userId: b.id, workspaceId: wsB, name: 'b1' }, SYSTEM);
      secrets.push(ka.token, kb.token, PASSWORD);
      w = {
        ownerA: a.id,
        wsA,
        wsB,
        auditorId: auditor.id,
        keyA: { id: ka.key.id, token: ka.token },
        keyB: { id: kb.key.id, token: kb.token },
      };
      admin = await s.login();
    });

    afterEach(async () => {
      const all = seen.join('\n');
      for (const sec of secrets) expect(all.includes(sec), 'a secret leaked into a response').to.equal(false);
      expect(all).not.to.match(/\$argon2/);
      expect(all).not.to.match(/"ct":"/);
      await s.dispose();
      await pg.drop();
    });

    it('applies each filter exactly as the raw log says, including tokenDigest, type lists and from/to', async () => {
      // Some more history, one minute apart, in both workspaces.
      for (let i = 0; i < 6; i++) {
        clock.advance(60);
        const k = await ledger.keys.create({ userId: w.ownerA, workspaceId: w.wsA, name: `x${i}` }, SYSTEM);
        if (i % 2 === 0) await ledger.keys.revoke(k.key.id, 'test', { actor: { type: 'user', id: w.auditorId } });
      }
      await ledger.keys.revoke(w.keyB.id, null, SYSTEM);
      const log = await allEvents(ledger);
      const keysOf = (ws: string): Set<string> =>
        new Set(
          log
            .filter((e) => e.type === 'ApiKeyCreated' && data(e).workspaceId === ws)
            .map((e) => data(e).keyId as string),
        );
      const wsAKeys = keysOf(w.wsA);
      const from = new Date(T0 + 2 * 60_000).toISOString();
      const to = new Date(T0 + 5 * 60_000).toISOString();
      const digest = createHash('sha256').update(w.keyA.token).digest('hex');
      const cases: Array<[string, (e: RecordedEvent) => boolean]> = [
        [`keyId=${w.keyA.id}`, (e) => data(e).keyId === w.keyA.id && e.type.startsWith('ApiKey')],
        [`tokenDigest=${digest}`, (e) => data(e).keyId === w.keyA.id && e.type.startsWith('ApiKey')],
        [
          `userId=${w.ownerA}`,
          (e) => data(e).userId === w.ownerA || (e.type === 'WorkspaceCreated' && data(e).ownerId === w.ownerA),
        ],
        [
          `workspaceId=${w.wsA}`,
          (e) => data(e).workspaceId === w.wsA || (e.type.startsWith('ApiKey') && wsAKeys.has(data(e).keyId as string)),
        ],
        [`actorId=${w.auditorId}`, (e) => meta(e).actor.id === w.auditorId],
        ['type=ApiKeyRevoked,ApiKeyCreated', (e) => e.type === 'ApiKeyRevoked' || e.type === 'ApiKeyCreated'],
        [
          `from=${from}&to=${to}`,
          (e) => Date.parse(meta(e).occurredAt) >= Date.parse(from) && Date.parse(meta(e).occurredAt) < Date.parse(to),
        ],
        [
          `type=ApiKeyRevoked&workspaceId=${w.wsA}&from=${from}`,
          (e) =>
            e.type === 'ApiKeyRevoked' &&
            wsAKeys.has(data(e).keyId as string) &&
            Date.parse(meta(e).occurredAt) >= Date.parse(from),
        ],
      ];
      for (const [q, keep] of cases) {
        const expected = log.filter(keep).map((e) => e.position);
        expect(expected.length, q).to.be.greaterThan(0);
        const asc = (await walk(`/v1/audit?order=asc&limit=3&${q}`)).map((i) => i.position);
        expect(asc, q).to.deep.equal(expected);
        const desc = (await walk(`/v1/audit?limit=5&${q}`)).map((i) => i.position);
        expect(desc, q).to.deep.equal([...expected].reverse());
      }
      const created = (await get(`/v1/audit?type=ApiKeyCreated&keyId=${w.keyA.id}`)).items[0];
      expect(created).to.include({
        type: 'ApiKeyCreated',
        keyId: w.keyA.id,
        userId: w.ownerA,
        workspaceId: w.wsA,
        tokenDigest: digest,
        streamId: `apikey-${w.keyA.id}`,
      });
      expect(created.actor).to.deep.equal({ type: 'system', id: 'system' });
      expect(created.chain).to.match(/^[0-9a-f]{64}$/);
      expect(created.event.data.sealed).to.have.property('redacted'); // retrievable: sealed token replaced by its digest
      expect(created.event.metadata.occurredAt).to.equal(created.occurredAt);

      for (const bad of [
        'type=Nope',
        'keyId=a%20b',
        'from=yesterday',
        `from=${to}&to=${from}`,
        'tokenDigest=abc',
        'order=sideways',
        'cursor=%21%21',
        'cursor=eDE',
        'limit=0',
        'limit=1001',
        'bogus=1',
      ]) {
        const r = await req('GET', `/v1/audit?${bad}`);
        expect(r.status, bad).to.equal(400);
        expect(r.body.type, bad).to.equal('validation_error');
      }
      expect((await req('GET', '/v1/audit?limit=1001')).body.errors[0]).to.include({ code: 'invalid', attr: 'limit' });
      expect((await req('GET', '/v1/audit?limit=1000')).status).to.equal(200);
      expect((await req('GET', '/v1/audit?keyId=key_unknown')).status).to.equal(404);
      expect((await req('GET', '/v1/audit?workspaceId=ws_unknown')).status).to.equal(404);
    });

    it('pages newest first without duplicates or gaps while new events are appended, down to position 1', async () => {
      const positions: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      let top = 0;
      await ledger.usage.flush();
      const before = ledger.read.position;
      for (;;) {
        const p = await get(`/v1/audit?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`);
        // The first page starts at the head as of the request (the checkpointer may have appended since `before`).
        if (pages === 0) top = (p.items[0] as { position: number }).position;
        positions.push(...p.items.map((i: { position: number }) => i.position));
        pages++;
        // Writes between pages land above the first page: the walk never sees them twice nor skips older ones.
        await ledger.keys.create({ userId: w.ownerA, workspaceId: w.wsA, name: `during-${pages}` }, SYSTEM);
        if (!p.hasMore) {
          expect(p.nextCursor).to.equal(null);
          break;
        }
        cursor = p.nextCursor;
      }
      expect(pages).to.be.greaterThan(3);
      expect(top).to.be.at.least(before);
      expect(positions).to.deep.equal(Array.from({ length: top }, (_, i) => top - i));
      expect(positions[positions.length - 1]).to.equal(1);
      // Oldest first: everything, in order, and a cursor to poll with at the end.
      const head = ledger.read.position;
      const asc = await walk('/v1/audit?order=asc&limit=1000');
      expect(asc.map((i) => i.position)).to.deep.equal(Array.from({ length: asc.length }, (_, i) => i + 1));
      expect(asc.length).to.be.at.least(head);
      const last = await get('/v1/audit?order=asc&limit=1000');
      expect(last.hasMore).to.equal(false);
      await ledger.keys.create({ userId: w.ownerA, workspaceId: w.wsA, name: 'after' }, SYSTEM);
      const next = await get(`/v1/audit?order=asc&cursor=${last.nextCursor}`);
      expect(next.items.map((i: { type: string }) => i.type)).to.include('ApiKeyCreated');
      expect(next.items[0].position).to.equal((last.items as Array<{ position: number }>).at(-1)!.position + 1);
    });

    it('needs audit:read: 403 for a member, scoped 200 for an auditor, everything for a system admin', async () => {
      const member = await s.login('m@example.com', PASSWORD);
      const auditor = await s.login('aud@example.com', PASSWORD);
      const denied = await req('GET', '/v1/audit', member);
      expect(denied.status).to.equal(403);
      expect(denied.body).to.deep.include({ type: 'client_error' });
      expect(denied.body.errors[0].code).to.equal('permission_denied');
      expect((await req('GET', `/v1/audit?workspaceId=${w.wsA}`, member)).status).to.equal(403);
      expect((await req('GET', `/v1/keys/${w.keyA.id}/history`, member)).status).to.equal(403);
      expect(
        (await req('GET', `/v1/keys/${w.keyA.id}?asOf=${new Date(T0 + 120_000).toISOString()}`, member)).status,
      ).to.equal(403);
      expect((await req('GET', `/v1/workspaces/${w.wsA}/keys`, member)).status).to.equal(403);
      expect((await s.request('GET', '/v1/audit')).status).to.equal(401);

      const mine = await walk('/v1/audit?limit=1000', auditor);
      expect(mine.length).to.be.greaterThan(0);
      expect(mine.some((i) => i.keyId === w.keyA.id)).to.equal(true);
      expect(mine.some((i) => i.keyId === w.keyB.id || i.workspaceId === w.wsB)).to.equal(false);
      expect((await req('GET', `/v1/audit?workspaceId=${w.wsB}`, auditor)).status).to.equal(404);
      expect((await req('GET', `/v1/audit?keyId=${w.keyB.id}`, auditor)).status).to.equal(404);
      expect((await req('GET', `/v1/keys/${w.keyB.id}/history`, auditor)).status).to.equal(404);
      expect((await req('GET', `/v1/audit?keyId=${w.keyA.id}`, auditor)).status).to.equal(200);
      // An audit key scoped to audit:read works the same way, inside its own workspace.
      const ak = await ledger.keys.create(
        { userId: w.auditorId, workspaceId: w.wsA, name: 'aud', scopes: ['audit:read'] },
        SYSTEM,
      );
      secrets.push(ak.token);
      expect((await req('GET', `/v1/audit?workspaceId=${w.wsA}`, ak.token)).status).to.equal(200);
      await ledger.usage.flush(); // the key's use is written behind the request; count it before comparing
      const head = ledger.read.position;
      const everything = await walk('/v1/audit?limit=1000');
      // The checkpointer may append behind the test's back: everything up to the head at the request, each once.
      expect(everything.map((i) => i.position).sort((a, b) => a - b)).to.deep.equal(
        Array.from({ length: everything.length }, (_, i) => i + 1),
      );
      expect(everything.length).to.be.at.least(head);
      expect(everything.some((i) => i.workspaceId === w.wsB)).to.equal(true);
    });

    it('shows login successes and failures, ApiKeyUsed with its scheme, and secret reveals', async () => {
      expect(
        (await s.request('POST', '/v1/auth/login', { body: { email: 'a@example.com', password: 'wrong password!' } }))
          .status,
      ).to.equal(401);
      expect(
        (
          await s.request('POST', '/v1/auth/login', {
            body: { email: 'nobody@example.com', password: 'wrong password!' },
          })
        ).status,
      ).to.equal(401);
      const a = await s.login('a@example.com', PASSWORD);
      expect((await req('GET', '/v1/auth/me', w.keyA.token, undefined)).status).to.equal(200);
      expect((await s.request('GET', '/v1/auth/me', { headers: { 'API-KEY': w.keyB.token } })).status).to.equal(200);
      const revealed = await req('GET', `/v1/keys/${w.keyA.id}/token`, a);
      expect(revealed.status).to.equal(200);
      seen.pop(); // the reveal's own response is meant to carry the token
      await waitUntil(
        async () => (await get('/v1/audit?type=ApiKeyUsed')).items.length >= 2,
        10_000,
        'key use to be flushed',
      );
      const logins = (await get('/v1/audit?type=UserLoginSucceeded,UserLoginFailed')).items;
      expect(
        logins
          .filter((i: any) => i.type === 'UserLoginFailed')
          .map((i: any) => i.event.data.reason)
          .sort(),
      ).to.deep.equal(['bad_password', 'unknown_user']);
      expect(logins.filter((i: any) => i.type === 'UserLoginSucceeded').length).to.be.greaterThanOrEqual(2); // admin and a
      const used = (await get('/v1/audit?type=ApiKeyUsed')).items;
      expect(used.find((i: any) => i.keyId === w.keyA.id).scheme).to.equal('bearer');
      expect(used.find((i: any) => i.keyId === w.keyB.id).scheme).to.equal('api-key-header');
      const reveals = (await get(`/v1/audit?type=ApiKeySecretRevealed&keyId=${w.keyA.id}`)).items;
      expect(reveals).to.have.length(1);
      expect(reveals[0].actor).to.deep.equal({ type: 'user', id: w.ownerA });
      // The user's registration is there, its password hash redacted.
      const reg = (await get(`/v1/audit?type=UserRegistered&userId=${w.ownerA}`)).items[0];
      expect(reg.event.data.passwordHash).to.have.property('redacted');
    });

    it('history: a rotate-twice chain with lineage both ways and every event of every key in it', async () => {
      const a = await s.login('a@example.com', PASSWORD);
      const k1 = (await req('POST', '/v1/keys', a, { name: 'chain', handle: 'deploy' })).body;
      secrets.push(k1.token);
      clock.advance(60);
      const k2 = (await req('POST', `/v1/keys/${k1.id}/rotate`, a, { gracePeriod: '1h' })).body;
      clock.advance(60);
      const k3 = (await req('POST', `/v1/keys/${k2.id}/rotate`, a, {})).body;
      secrets.push(k2.token, k3.token);
      const auditor = await s.login('aud@example.com', PASSWORD);
      const h2 = await get(`/v1/keys/${k2.id}/history`, auditor);
      expect(h2.key.id).to.equal(k2.id);
      expect(h2.lineage).to.deep.equal({ predecessors: [k1.id], successors: [k3.id] });
      const positions = h2.events.map((e: any) => e.position);
      expect(positions).to.deep.equal([...positions].sort((x: number, y: number) => x - y));
      const log = (await allEvents(ledger)).filter(
        (e) => [k1.id, k2.id, k3.id].includes(data(e).keyId as string) && e.type.startsWith('ApiKey'),
      );
      expect(h2.events.map((e: any) => [e.position, e.keyId, e.type])).to.deep.equal(
        log.map((e) => [e.position, data(e).keyId, e.type]),
      );
      expect(h2.events.map((e: any) => e.type)).to.include.members(['ApiKeyCreated', 'ApiKeyRotated', 'ApiKeyExpired']);
      const h1 = await get(`/v1/keys/${k1.id}/history`);
      expect(h1.lineage).to.deep.equal({ predecessors: [], successors: [k2.id, k3.id] });
      // The handle moved to the newest key; history by handle resolves it like GET /v1/keys/:idOrHandle.
      const byHandle = await get('/v1/keys/deploy/history', a);
      expect(byHandle.key.id).to.equal((await get('/v1/keys/deploy', a)).id);
      expect(byHandle.lineage.predecessors).to.deep.equal([k1.id, k2.id]);
      expect((await req('GET', '/v1/keys/key_nope/history')).status).to.equal(404);
    });

    it('asOf: the key as it was at an instant or a ledger position; before creation 404; malformed 400', async () => {
      // Sessions last 15 minutes on the frozen clock: log in afresh for each step.
      const a = (): Promise<string> => s.login('a@example.com', PASSWORD);
      const tCreate = clock.ms;
      const k = (await req('POST', '/v1/keys', await a(), { name: 'v1', expiresIn: '2h' })).body;
      secrets.push(k.token);
      const createdAt = (await allEvents(ledger)).find(
        (e) => e.type === 'ApiKeyCreated' && data(e).keyId === k.id,
      )!.position;
      clock.advance(600);
      expect((await req('PATCH', `/v1/keys/${k.id}`, await a(), { name: 'v2' })).status).to.equal(200);
      const tRenamed = clock.ms;
      clock.advance(600);
      const rotated = await req('POST', `/v1/keys/${k.id}/rotate`, await a(), { gracePeriod: '30m' });
      expect(rotated.status).to.equal(201);
      secrets.push(rotated.body.token);
      const tRotated = clock.ms;
      clock.advance(600);
      const other = (await req('POST', '/v1/keys', await a(), { name: 'doomed' })).body;
      secrets.push(other.token);
      clock.advance(60);
      expect((await req('DELETE', `/v1/keys/${other.id}`, await a())).status).to.equal(200);
      const tRevoked = clock.ms;
      clock.advance(3600); // past the grace: the rotated key's expiry is written when due
      await ledger.expiry.runDue();
      admin = await s.login();
      const iso = (ms: number): string => new Date(ms).toISOString();
      const at = (id: string, asOf: string | number): Promise<any> => get(`/v1/keys/${id}?asOf=${asOf}`);

      const before = await req('GET', `/v1/keys/${k.id}?asOf=${iso(tCreate - 1)}`);
      expect(before.status).to.equal(404);
      expect(before.body.errors[0].code).to.equal('not_found');
      expect((await req('GET', `/v1/keys/${k.id}?asOf=${createdAt - 1}`)).status).to.equal(404);
      const born = await at(k.id, iso(tCreate));
      expect(born).to.include({
        id: k.id,
        name: 'v1',
        status: 'active',
        phase: 'active',
        asOf: iso(tCreate),
        rotatedTo: null,
        useCount: 0,
      });
      expect(born.expiresAt).to.equal(iso(tCreate + 2 * 3600_000));
      expect(await at(k.id, createdAt)).to.include({ name: 'v1', status: 'active', asOf: createdAt, at: iso(tCreate) });
      expect(await at(k.id, iso(tRenamed))).to.include({ name: 'v2', status: 'active' });
      const grace = await at(k.id, iso(tRotated + 60_000));
      expect(grace).to.include({
        status: 'active',
        phase: 'rotation_grace',
        rotatedTo: rotated.body.id,
        graceEndsAt: iso(tRotated + 1800_000),
      });
      expect(await at(k.id, iso(tRotated + 1800_000))).to.include({ status: 'expired', phase: 'expired' });
      expect(await at(other.id, iso(tRevoked - 1))).to.include({ status: 'active', revokedAt: null });
      expect(await at(other.id, iso(tRevoked))).to.include({
        status: 'revoked',
        phase: 'revoked',
        revokedAt: iso(tRevoked),
      });
      // Without asOf: today's answer, exactly as before.
      const now = await get(`/v1/keys/${k.id}`, await a());
      expect(now).to.include({ status: 'expired', name: 'v2' });
      expect(now).not.to.have.property('asOf');
      for (const bad of ['yesterday', '2026-13-45T00:00:00Z', '-1', '1.5', '']) {
        const r = await req('GET', `/v1/keys/${k.id}?asOf=${bad}`);
        expect(r.status, bad).to.equal(400);
        expect(r.body.errors[0].attr, bad).to.equal('asOf');
      }
      expect((await req('GET', `/v1/keys/${k.id}?asOf=${ledger.read.position + 10}`)).status).to.equal(400);
    });

    it('bad input on every audit route is a 400 envelope naming the parameter, never a 500', async () => {
      const key = w.keyA.id;
      const cases: Array<[string, string]> = [
        ['/v1/audit?from=2026-02-30T00:00:00Z', 'from'], // a date that does not exist
        ['/v1/audit?to=2026-03-01T24:00:00Z', 'to'],
        ['/v1/audit?from=2026-03-01', 'from'],
        ['/v1/audit?from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'to'],
        ['/v1/audit?type=ApiKeyCreated&type=ApiKeyRevoked', 'type'],
        ['/v1/audit?type=ApiKeyCreated,', 'type'],
        ['/v1/audit?limit=1001', 'limit'],
        ['/v1/audit?limit=-1', 'limit'],
        ['/v1/audit?limit=1e3', 'limit'],
        ['/v1/audit?cursor=cDk5OTk5OTk5OTk5OTk5OTk5', 'cursor'],
        ['/v1/audit?userId=%E2%82%AC', 'userId'],
        ['/v1/audit?actorId=', 'actorId'],
        [`/v1/keys/${key}?asOf=2026-02-30T00:00:00Z`, 'asOf'],
        [`/v1/keys/${key}?asOf=1e3`, 'asOf'],
        [`/v1/keys/${key}?asOf=99999999999999999999`, 'asOf'],
        [`/v1/workspaces/${w.wsA}/keys?validAt=2026-02-30T00:00:00Z`, 'validAt'],
        [`/v1/workspaces/${w.wsA}/keys?validAt=12`, 'validAt'], // positions are for asOf only
        ['/v1/audit/export?toPosition=9999999999999999', 'toPosition'],
        ['/v1/audit/export?toPosition=-1', 'toPosition'],
        ['/v1/audit/export?format=csv&format=jsonl', 'format'],
        ['/v1/audit/export?from=2026-02-29T00:00:00Z', 'from'],
        ['/v1/audit/export/manifest?format=csv', 'toPosition'],
        ['/v1/audit/export/manifest?format=csv&toPosition=1&limit=5', 'limit'],
      ];
      for (const [path, attr] of cases) {
        const r = await req('GET', path);
        expect(r.status, `${path}: ${r.text.slice(0, 200)}`).to.equal(400);
        expect(r.body.type, path).to.equal('validation_error');
        expect(r.body.errors[0].attr, path).to.equal(attr);
        expect(r.body.errors[0].code, path).to.be.a('string');
      }
      // Without an offset an instant is UTC, whatever the server's zone.
      const utc = await get(`/v1/workspaces/${w.wsA}/keys?validAt=2026-03-01T00:01:00`);
      expect(utc.validAt).to.equal('2026-03-01T00:01:00.000Z');
      expect((await get(`/v1/keys/${key}?asOf=2026-03-01T01:01:00%2B01:00`)).at).to.equal('2026-03-01T00:01:00.000Z');
    });

    it('validAt: keys that would have verified for a workspace at an instant, and now by default', async () => {
      const t1 = clock.ms;
      clock.advance(60);
      const short = await ledger.keys.create(
        { userId: w.ownerA, workspaceId: w.wsA, name: 'short', expiresInSeconds: 300 },
        SYSTEM,
      );
      const t2 = clock.ms;
      clock.advance(60);
      await ledger.users.deactivate(w.ownerA, 'test', SYSTEM);
      const t3 = clock.ms;
      clock.advance(60);
      await ledger.users.reactivate(w.ownerA, SYSTEM);
      const t4 = clock.ms;
      clock.advance(240);
      const t5 = clock.ms;
      secrets.push(short.token);
      const ids = async (t: number | null): Promise<string[]> => {
        const r = await get(`/v1/workspaces/${w.wsA}/keys${t === null ? '' : `?validAt=${new Date(t).toISOString()}`}`);
        expect(r.count).to.equal(r.items.length);
        return r.items.map((i: { id: string }) => i.id);
      };
      expect(await ids(T0)).to.deep.equal([]);
      expect(await ids(t1)).to.deep.equal([w.keyA.id]);
      expect(await ids(t2)).to.deep.equal([w.keyA.id, short.key.id]);
      expect(await ids(t3)).to.deep.equal([]);
      expect(await ids(t4)).to.deep.equal([w.keyA.id, short.key.id]);
      expect(await ids(t5)).to.deep.equal([w.keyA.id]);
      expect(await ids(null)).to.deep.equal([w.keyA.id]);
      const r = await get(`/v1/workspaces/${w.wsA}/keys?validAt=${new Date(t2).toISOString()}`);
      expect(r).to.include({ validAt: new Date(t2).toISOString(), workspaceId: w.wsA });
      expect(r.items[1]).to.deep.equal({
        id: short.key.id,
        name: 'short',
        handle: null,
        userId: w.ownerA,
        start: short.key.start,
        createdAt: new Date(t2).toISOString(),
        expiresAt: new Date(t2 + 300_000).toISOString(),
      });
      expect((await req('GET', `/v1/workspaces/${w.wsA}/keys?validAt=soon`)).status).to.equal(400);
      expect((await req('GET', '/v1/workspaces/ws_nope/keys')).status).to.equal(404);
    });
  });
