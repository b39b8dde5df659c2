// Property test over HTTP: random multi-workspace worlds and random call sequences by random credentials. Whatever
// happens, no call answers 5xx, and no user or key gains power over an account, key or event outside its authority.
// The oracle states the principles of docs/authorization.md directly from the world's state, not through the policy.
import { expect } from 'chai';
import fc from 'fast-check';
import { plugins } from '../../services/cli/plugins.js';
import { KeyStatus } from '../../projections/read-model/views.js';
import type { WorkspaceRole } from '../../events/catalog.js';
import { permissionsOf } from '../../services/domain/permissions.js';
import { ADMIN_EMAIL, startTestServer, type Res, type TestServer } from '../support/server.js';
import { World } from '../support/world.js';

const ROLES: WorkspaceRole[] = ['owner', 'admin', 'member', 'auditor'];
const LEDGER_SCOPES = [
  'keys:create',
  'keys:read',
  'keys:revoke',
  'keys:verify',
  'audit:read',
  'audit:export',
  'users:manage',
  'workspaces:manage',
];

interface Cred {
  readonly token: string;
  readonly userId: string;
  readonly keyId: string | null;
}

interface Built {
  readonly ws: string[];
  readonly users: string[];
  readonly creds: Cred[];
  readonly keys: Array<{ id: string; token: string }>;
}

const worldArb = fc.record({
  users: fc.array(
    fc.record({
      sys: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      roles: fc.array(fc.option(fc.constantFrom(...ROLES), { nil: null }), { minLength: 3, maxLength: 3 }),
      keys: fc.array(fc.record({ ws: fc.nat(2), scopes: fc.option(fc.subarray(LEDGER_SCOPES), { nil: null }) }), {
        maxLength: 2,
      }),
    }),
    { minLength: 3, maxLength: 5 },
  ),
  calls: fc.array(
    fc.record({
      who: fc.nat(),
      op: fc.nat(15),
      a: fc.nat(),
      b: fc.nat(),
      role: fc.constantFrom(...ROLES),
      scopes: fc.subarray(LEDGER_SCOPES),
    }),
    {
      minLength: 8,
      maxLength: 16,
    },
  ),
});

type WorldSpec = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;
type Call = { who: number; op: number; a: number; b: number; role: WorkspaceRole; scopes: string[] };

describe('e2e: authorization properties (fast-check over HTTP)', function () {
  this.timeout(600_000);
  let s: TestServer;
  let w: World;
  let bossId = '';
  let runs = 0;
  let calls = 0;

  before(async () => {
    s = await startTestServer({}, plugins);
    w = new World(s.running.ledger);
    bossId = s.running.ledger.read.userByEmail(ADMIN_EMAIL)!.id;
  });
  after(async () => {
    console.log(`      authorization properties: ${runs} random worlds, ${calls} HTTP calls`);
    await s.dispose();
  });

  const model = () => s.running.ledger.read;

  async function build(spec: WorldSpec): Promise<Built> {
    const ws = [await w.workspace(bossId), await w.workspace(bossId), await w.workspace(bossId)];
    const built: Built = { ws, users: [], creds: [], keys: [] };
    for (const u of spec.users) {
      const roles: Record<string, WorkspaceRole> = {};
      u.roles.forEach((r, i) => r !== null && (roles[ws[i]!] = r));
      const acct = await w.account(roles, u.sys);
      built.users.push(acct.id);
      built.creds.push({ token: await w.session(acct.id), userId: acct.id, keyId: null });
      for (const k of u.keys) {
        const role = u.roles[k.ws] ?? null;
        if (role === null) continue;
        // Only scopes the role holds can be given (anything else is refused at creation).
        const scopes = k.scopes === null ? null : k.scopes.filter((x) => permissionsOf(role).has(x));
        const key = await w.key(acct.id, ws[k.ws]!, { scopes, retrievable: true });
        built.keys.push(key);
        built.creds.push({ token: key.token, userId: acct.id, keyId: key.id });
      }
    }
    return built;
  }

  /** Workspaces where the credential has any power right now; null: every one (a system admin session). */
  function tenantsOf(c: Cred): Set<string> | null {
    const u = model().user(c.userId);
    if (!u.active) return new Set();
    if (c.keyId === null) {
      if (u.systemRole === 'admin') return null;
      return new Set([...model().membershipsOf(c.userId)].filter(([, m]) => m.role !== null).map(([ws]) => ws));
    }
    const k = model().key(c.keyId);
    return model().check(k, { now: Date.now() }).valid ? new Set([k.workspaceId]) : new Set();
  }

  /** What a call could change: accounts' active flags, memberships and key states. */
  function snapshot(b: Built): Map<string, string> {
    const m = new Map<string, string>();
    for (const u of b.users) m.set(`user:${u}`, String(model().user(u).active));
    for (const ws of b.ws)
      for (const [u, mem] of model().workspace(ws).members) m.set(`member:${ws}:${u}`, String(mem.role));
    for (const u of b.users)
      for (const k of model().keysOf(u)) m.set(`key:${k.id}`, `${k.status}:${k.name}:${k.rotatedTo}`);
    return m;
  }

  async function call(b: Built, c: Call, cred: Cred): Promise<{ r: Res; desc: string }> {
    const user = b.users[c.a % b.users.length]!;
    const ws = b.ws[c.a % b.ws.length]!;
    const key = b.keys.length === 0 ? null : b.keys[c.b % b.keys.length]!;
    const keyId = key?.id ?? 'key_none';
    const req = (method: string, path: string, body?: unknown) =>
      s.request(method, path, { token: cred.token, body }).then((r) => ({ r, desc: `${method} ${path}` }));
    switch (c.op) {
      case 0:
        return req('POST', `/v1/users/${user}/deactivate`, {});
      case 1:
        return req('POST', `/v1/users/${user}/reactivate`);
      case 2:
        return req('POST', `/v1/users/${user}/keys/revoke`, {});
      case 3:
        return req('PUT', `/v1/workspaces/${ws}/members/${user}`, { role: c.role });
      case 4:
        return req('DELETE', `/v1/workspaces/${ws}/members/${user}`);
      case 5:
        return req('POST', `/v1/keys/${keyId}/revoke`, {});
      case 6:
        return req('GET', `/v1/keys/${keyId}/token`);
      case 7:
        return req('POST', `/v1/keys/${keyId}/rotate`, {});
      case 8:
        return req('PATCH', `/v1/keys/${keyId}`, { name: 'renamed' });
      case 9:
        return req('POST', '/v1/keys', { name: 'p', workspaceId: ws, scopes: c.scopes.length === 0 ? null : c.scopes });
      case 10:
        return req('GET', `/v1/audit?limit=200`);
      case 11:
        return req('GET', '/v1/revocations?limit=1000');
      case 12:
        return req('POST', '/v1/keys/verify', { token: key?.token ?? 'tl_x' });
      case 13:
        return req('POST', '/oauth/introspect', { token: key?.token ?? 'tl_x' });
      case 14:
        return req('POST', `/v1/users/${user}/unlock`);
      default:
        return req('GET', `/v1/users/${user}`);
    }
  }

  /** Checks one call's answer and effects against the principles. */
  function judge(
    b: Built,
    cred: Cred,
    tenants: Set<string> | null,
    r: Res,
    desc: string,
    before: Map<string, string>,
    after: Map<string, string>,
  ): void {
    expect(r.status, `${desc}: ${r.text}`).to.be.below(500);
    const ok = r.status >= 200 && r.status < 300;
    const changed = [...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k);
    if (!ok) {
      expect(changed, `${desc} was refused (${r.status}) yet changed state`).to.deep.equal([]);
      return;
    }
    const isSuper = tenants === null;
    const actor = model().user(cred.userId);
    for (const what of changed) {
      const [kind, a, c] = what.split(':') as [string, string, string | undefined];
      if (kind === 'user')
        expect(isSuper, `${desc}: only a system admin session changes an account (${what})`).to.equal(true);
      if (kind === 'member' && !isSuper) {
        const leaving = c === cred.userId && cred.keyId === null;
        expect(
          leaving || tenants.has(a),
          `${desc}: membership change outside the caller's workspaces (${what})`,
        ).to.equal(true);
      }
      if (kind === 'key' && !isSuper) {
        const k = model().key(a);
        // Outside its workspaces a session may only revoke its own keys (that only narrows power).
        const ownRevocation =
          k.owner.id === actor.id && cred.keyId === null && before.has(what) && k.status === KeyStatus.Revoked;
        expect(
          ownRevocation || tenants.has(k.workspaceId),
          `${desc}: key change outside the caller's workspaces (${what})`,
        ).to.equal(true);
      }
    }
    const body = r.body as Record<string, any> | undefined;
    // Reads stay within the caller's tenants.
    if (desc.startsWith('GET /v1/audit') && !isSuper)
      for (const it of body!.items as Array<{ workspaceId: string | null; keyId: string | null }>) {
        const about = it.workspaceId ?? (it.keyId === null ? null : (model().findKey(it.keyId)?.workspaceId ?? null));
        expect(about !== null && tenants.has(about), `${desc}: an audit event of another tenant`).to.equal(true);
      }
    if (desc.startsWith('GET /v1/revocations') && !isSuper)
      for (const it of body!.items as Array<{ data: { workspaceId: string | null } }>)
        expect(tenants.has(it.data.workspaceId ?? ''), desc).to.equal(true);
    if (
      (desc.includes('/v1/keys/verify') && body!.valid === true) ||
      (desc.includes('/oauth/introspect') && body!.active === true)
    ) {
      const ws = (body!.key?.workspaceId ?? body!.workspace_id) as string;
      expect(isSuper || tenants.has(ws), `${desc}: another tenant's token was confirmed`).to.equal(true);
    }
    // Credentials handed out are never broader than the caller: only the owner's, and within a scoped key's scopes.
    const handedOut = desc.endsWith('/token') || desc.endsWith('/rotate') || desc === 'POST /v1/keys';
    if (handedOut && cred.keyId !== null) {
      const callerKey = model().key(cred.keyId);
      const issued = model().key(body!.id as string);
      expect(issued.owner.id, desc).to.equal(actor.id);
      if (callerKey.scopes !== null) {
        expect(issued.scopes, `${desc}: a scoped key got an unscoped credential`).to.not.equal(null);
        for (const x of issued.scopes!)
          expect(callerKey.scopes.has(x), `${desc}: ${x} is beyond the calling key`).to.equal(true);
      }
    }
    if (handedOut && cred.keyId === null && desc !== 'POST /v1/keys')
      expect(model().key(body!.id as string).owner.id, desc).to.equal(actor.id);
  }

  it('never answers 5xx, and never lets a credential reach outside its authority', async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, async (spec) => {
        runs++;
        const b = await build(spec);
        for (const c of spec.calls) {
          const cred = b.creds[c.who % b.creds.length]!;
          const tenants = tenantsOf(cred);
          const before = snapshot(b);
          const { r, desc } = await call(b, c, cred);
          calls++;
          judge(b, cred, tenants, r, desc, before, snapshot(b));
        }
      }),
      { numRuns: 40 },
    );
  });
});
