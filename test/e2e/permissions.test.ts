// Permission matrix per role: what owner, admin, member and auditor may do in their workspace.
import { expect } from 'chai';
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
}

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
];

describe('e2e: permission matrix per role', () => {
  let s: TestServer;
  const sessions = {} as Record<Role, string>;
  let ctx: Ctx;
  before(async () => {
    s = await startTestServer();
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
    ctx = { ws, otherUser: other.body.id, verifyToken: key.body.token };
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

  it("another user's key is invisible (404), not merely forbidden", async () => {
    const mine = await s.request('POST', '/v1/keys', { token: sessions.member, body: { name: 'mine', workspaceId: ctx.ws, expiresIn: '1d' } });
    expect((await s.request('GET', `/v1/keys/${mine.body.id}`, { token: sessions.auditor })).status).to.equal(404);
    expect((await s.request('DELETE', `/v1/keys/${mine.body.id}`, { token: sessions.auditor })).status).to.equal(404);
    expect((await s.request('GET', `/v1/keys/${mine.body.id}`, { token: sessions.admin })).status).to.equal(200);
  });
});
