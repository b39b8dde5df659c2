// Permission matrix per role: what owner, admin, member and auditor may do in their workspace.
import { expect } from 'chai';
import { plugins } from '../../services/cli/plugins.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ROLES = ['owner', 'admin', 'member', 'auditor'] as const;
type Role = (typeof ROLES)[number];

interface Action {
  name: string;
  allowed: Role[];
  run(s: TestServer, token: string, ctx: Ctx): Promise<number>;
}
interface Ctx {
  ws: string;
  otherUser: string;
  verifyToken: string;
  /** A fresh user in the workspace with this role (or a fresh system admin), made by the bootstrap admin. */
  newUser(role: Role | 'system admin'): Promise<string>;
}

const deactivate = async (s: TestServer, t: string, id: string) => (await s.request('POST', `/v1/users/${id}/deactivate`, { token: t })).status;
const revokeKeysOf = async (s: TestServer, t: string, id: string) => (await s.request('POST', `/v1/users/${id}/keys/revoke`, { token: t })).status;

const ACTIONS: Action[] = [
  {
    name: 'create a key (keys:create)',
    allowed: ['owner', 'admin', 'member'],
    run: async (s, t, c) => (await s.request('POST', '/v1/keys', { token: t, body: { name: 'x', workspaceId: c.ws } })).status,
  },
  {
    name: 'list own keys (keys:read)',
    allowed: ['owner', 'admin', 'member', 'auditor'],
    run: async (s, t, c) => (await s.request('GET', `/v1/keys?workspaceId=${c.ws}`, { token: t })).status,
  },
  {
    name: 'verify a token (keys:verify)',
    allowed: ['owner', 'admin', 'member'],
    run: async (s, t, c) => (await s.request('POST', '/v1/keys/verify', { token: t, body: { token: c.verifyToken } })).status,
  },
  {
    name: 'introspect a token (keys:verify)',
    allowed: ['owner', 'admin', 'member'],
    run: async (s, t, c) => (await s.request('POST', '/oauth/introspect', { token: t, body: { token: c.verifyToken } })).status,
  },
  {
    name: 'set a member role (workspaces:manage)',
    allowed: ['owner', 'admin'],
    run: async (s, t, c) => (await s.request('PUT', `/v1/workspaces/${c.ws}/members/${c.otherUser}`, { token: t, body: { role: 'member' } })).status,
  },
  {
    name: 'set the workspace policy (workspaces:manage)',
    allowed: ['owner', 'admin'],
    run: async (s, t, c) => (await s.request('PUT', `/v1/workspaces/${c.ws}/policy`, { token: t, body: { maxTtl: '90d' } })).status,
  },
  {
    name: 'create a user (users:manage)',
    allowed: ['owner', 'admin'],
    run: async (s, t, c) =>
      (
        await s.request('POST', '/v1/users', {
          token: t,
          body: { email: `u${Math.random()}@example.com`, name: 'U', password: 'long enough password', workspaceId: c.ws },
        })
      ).status,
  },
  { name: 'list users (users:manage)', allowed: ['owner', 'admin'], run: async (s, t) => (await s.request('GET', '/v1/users', { token: t })).status },
  {
    name: "revoke all of one's own keys (keys:revoke)",
    allowed: ['owner', 'admin', 'member'],
    run: async (s, t) => revokeKeysOf(s, t, 'me'),
  },
  {
    name: "revoke all of a member's keys (users:manage)",
    allowed: ['owner', 'admin'],
    run: async (s, t, c) => revokeKeysOf(s, t, await c.newUser('member')),
  },
  {
    name: "revoke all of the workspace owner's keys (owner rank)",
    allowed: ['owner'],
    run: async (s, t, c) => revokeKeysOf(s, t, await c.newUser('owner')),
  },
  {
    name: 'read the audit trail (audit:read)',
    allowed: ['owner', 'admin', 'auditor'],
    run: async (s, t, c) => (await s.request('GET', `/v1/audit?workspaceId=${c.ws}`, { token: t })).status,
  },
  {
    name: 'export the audit trail (audit:export)',
    allowed: ['owner', 'admin', 'auditor'],
    run: async (s, t, c) => (await s.request('GET', `/v1/audit/export?workspaceId=${c.ws}`, { token: t })).status,
  },
  { name: 'deactivate a member (users:manage)', allowed: ['owner', 'admin'], run: async (s, t, c) => deactivate(s, t, await c.newUser('member')) },
  { name: 'deactivate an auditor (users:manage)', allowed: ['owner', 'admin'], run: async (s, t, c) => deactivate(s, t, await c.newUser('auditor')) },
  { name: 'deactivate an admin (users:manage, admin rank)', allowed: ['owner', 'admin'], run: async (s, t, c) => deactivate(s, t, await c.newUser('admin')) },
  { name: 'deactivate the workspace owner (owner rank)', allowed: ['owner'], run: async (s, t, c) => deactivate(s, t, await c.newUser('owner')) },
  { name: 'deactivate a system admin (system admins only)', allowed: [], run: async (s, t, c) => deactivate(s, t, await c.newUser('system admin')) },
];

describe('e2e: permission matrix per role', () => {
  let s: TestServer;
  const sessions = {} as Record<Role, string>;
  let ctx: Ctx;
  before(async () => {
    s = await startTestServer({}, plugins);
    const admin = await s.login();
    const ws = (await s.request('POST', '/v1/workspaces', { token: admin, body: { name: 'Matrix' } })).body.id as string;
    for (const role of ROLES) {
      const email = `${role}.user@example.com`;
      const r = await s.request('POST', '/v1/users', { token: admin, body: { email, name: role, password: 'long enough password', workspaceId: ws, role } });
      expect(r.status, r.text).to.equal(201);
      sessions[role] = await s.login(email, 'long enough password');
    }
    const other = await s.request('POST', '/v1/users', {
      token: admin,
      body: { email: 'other@example.com', name: 'O', password: 'long enough password', workspaceId: ws },
    });
    const key = await s.request('POST', '/v1/keys', { token: admin, body: { name: 'probe', workspaceId: ws } });
    let n = 0;
    const newUser = async (role: Role | 'system admin'): Promise<string> => {
      const body = { email: `target${n++}@example.com`, name: 'T', password: 'long enough password', workspaceId: ws };
      const r = await s.request('POST', '/v1/users', { token: admin, body: role === 'system admin' ? { ...body, systemRole: 'admin' } : { ...body, role } });
      expect(r.status, r.text).to.equal(201);
      return r.body.id as string;
    };
    ctx = { ws, otherUser: other.body.id, verifyToken: key.body.token, newUser };
  });
  after(async () => s.dispose());

  for (const action of ACTIONS) {
    for (const role of ROLES) {
      const ok = action.allowed.includes(role);
      it(`${role} ${ok ? 'may' : 'may not'} ${action.name}`, async () => {
        const status = await action.run(s, sessions[role], ctx);
        if (ok) expect(status).to.be.within(200, 299);
        else expect(status).to.equal(403);
      });
    }
  }

  it("a key's scopes narrow its owner's role", async () => {
    const key = await s.request('POST', '/v1/keys', {
      token: sessions.owner,
      body: { name: 'narrow', workspaceId: ctx.ws, scopes: ['keys:read'], expiresIn: '1d' },
    });
    expect(key.status).to.equal(201);
    expect((await s.request('GET', `/v1/keys?workspaceId=${ctx.ws}`, { token: key.body.token })).status).to.equal(200);
    const denied = await s.request('POST', '/v1/keys', { token: key.body.token, body: { name: 'x', expiresIn: '1d' } });
    expect(denied.status).to.equal(403);
    expect(denied.body.errors[0].code).to.equal('permission_denied');
  });

  it("revoking all of one's own keys needs keys:revoke among the calling key's scopes", async () => {
    const verifyOnly = await s.request('POST', '/v1/keys', {
      token: sessions.member,
      body: { name: 'v', workspaceId: ctx.ws, scopes: ['keys:verify'], expiresIn: '1d' },
    });
    expect(verifyOnly.status, verifyOnly.text).to.equal(201);
    const denied = await s.request('POST', '/v1/users/me/keys/revoke', { token: verifyOnly.body.token });
    expect(denied.status).to.equal(403);
    expect(denied.body.errors[0].code).to.equal('permission_denied');
    expect((await s.request('GET', '/v1/auth/me', { token: verifyOnly.body.token })).status).to.equal(200); // nothing was revoked
    const revoker = await s.request('POST', '/v1/keys', {
      token: sessions.member,
      body: { name: 'r', workspaceId: ctx.ws, scopes: ['keys:revoke'], expiresIn: '1d' },
    });
    expect((await s.request('POST', `/v1/users/me/keys/revoke`, { token: revoker.body.token })).status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: verifyOnly.body.token })).status).to.equal(401);
  });

  it('a workspace admin cannot act on the owner or a system admin, and the targets stay active', async () => {
    const owner = await ctx.newUser('owner');
    const sysAdmin = await ctx.newUser('system admin');
    for (const id of [owner, sysAdmin]) {
      expect((await s.request('POST', `/v1/users/${id}/deactivate`, { token: sessions.admin })).status).to.equal(403);
      expect((await s.request('POST', `/v1/users/${id}/keys/revoke`, { token: sessions.admin })).status).to.equal(403);
      expect((await s.request('POST', `/v1/users/${id}/reactivate`, { token: sessions.admin })).status).to.equal(403);
      expect((await s.request('GET', `/v1/users/${id}`, { token: await s.login() })).body.active).to.equal(true);
    }
  });

  it("another user's key is invisible (404), not merely forbidden", async () => {
    const mine = await s.request('POST', '/v1/keys', { token: sessions.member, body: { name: 'mine', workspaceId: ctx.ws, expiresIn: '1d' } });
    expect((await s.request('GET', `/v1/keys/${mine.body.id}`, { token: sessions.auditor })).status).to.equal(404);
    expect((await s.request('DELETE', `/v1/keys/${mine.body.id}`, { token: sessions.auditor })).status).to.equal(404);
    expect((await s.request('GET', `/v1/keys/${mine.body.id}`, { token: sessions.admin })).status).to.equal(200);
  });
});
