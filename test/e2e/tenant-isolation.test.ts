// One regression test per finding of the tenant-isolation review (issue "Tenant isolation and least privilege").
// Each failed on the code before the fix.
import { expect } from 'chai';
import { readEventStream, REVOCATION_TYPES, type RevocationEvent } from '../../clients/index.js';
import { plugins } from '../../services/cli/plugins.js';
import { SYSTEM } from '../../services/ledger.js';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  eventsOfType,
  startTestServer,
  type Res,
  type TestServer,
} from '../support/server.js';
import { waitUntil } from '../support/async.js';
import { PASSWORD, World } from '../support/world.js';

const code = (r: Res): string => (r.body as { errors: Array<{ code: string }> }).errors[0]!.code;

describe('e2e: tenant isolation (review findings)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let w: World;
  let adminId = '';

  beforeEach(async () => {
    s = await startTestServer({}, plugins);
    w = new World(s.running.ledger);
    adminId = s.running.ledger.read.userByEmail(ADMIN_EMAIL)!.id;
  });
  afterEach(async () => s.dispose());

  /** Workspace A with a plain member (the attacker) and workspace B whose owner is the victim, with a live key. */
  async function twoTenants() {
    const A = await w.workspace(adminId, 'A');
    const B = await w.workspace(adminId, 'B');
    const attacker = await w.account({ [A]: 'member' });
    const victim = await w.account({ [B]: 'owner' });
    const victimKey = await w.key(victim.id, B);
    return { A, B, attacker, victim, victimKey, attackerSession: await w.session(attacker.id) };
  }

  it('1. a member of one workspace cannot take over an owner of another: no add without consent, no deactivation, no revocation', async () => {
    const t = await twoTenants();
    const mine = await s.request('POST', '/v1/workspaces', { token: t.attackerSession, body: { name: 'trap' } });
    expect(mine.status).to.equal(201);
    const add = await s.request('PUT', `/v1/workspaces/${mine.body.id}/members/${t.victim.id}`, {
      token: t.attackerSession,
      body: { role: 'member' },
    });
    expect(add.status).to.equal(403);
    expect(code(add)).to.equal('consent_required');
    for (const path of [
      `/v1/users/${t.victim.id}/deactivate`,
      `/v1/users/${t.victim.id}/reactivate`,
      `/v1/users/${t.victim.id}/keys/revoke`,
    ]) {
      const r = await s.request('POST', path, { token: t.attackerSession, body: {} });
      expect(r.status, path).to.equal(404);
    }
    expect(s.running.ledger.read.findUser(t.victim.id)!.active).to.equal(true);
    expect((await s.request('GET', '/v1/auth/me', { token: t.victimKey.token })).status).to.equal(200);
    // Even with the victim's consent (an accepted invitation), the attacker's owner role reaches only its own workspace.
    const inv = await s.request('POST', `/v1/workspaces/${mine.body.id}/invitations`, {
      token: t.attackerSession,
      body: { email: t.victim.email },
    });
    expect(inv.status, inv.text).to.equal(201);
    const victimSession = await w.session(t.victim.id);
    expect(
      (await s.request('GET', '/v1/invitations', { token: victimSession })).body.items.map((i: { id: string }) => i.id),
    ).to.deep.equal([inv.body.id]);
    expect(
      (await s.request('POST', `/v1/invitations/${inv.body.id}/accept`, { token: victimSession })).status,
    ).to.equal(200);
    const revoke = await s.request('POST', `/v1/users/${t.victim.id}/keys/revoke`, {
      token: t.attackerSession,
      body: {},
    });
    expect(revoke.body).to.deep.equal({ revoked: 0, skipped: 0 });
    expect(
      (await s.request('POST', `/v1/users/${t.victim.id}/deactivate`, { token: t.attackerSession, body: {} })).status,
    ).to.equal(403);
    expect((await s.request('GET', '/v1/auth/me', { token: t.victimKey.token })).status).to.equal(200);
  });

  it('1. an admin cannot deactivate or strip the keys of their own workspace owner', async () => {
    const ws = await w.workspace(adminId, 'W');
    const owner = await w.account({ [ws]: 'owner' });
    const ownerKey = await w.key(owner.id, ws);
    const admin = await w.account({ [ws]: 'admin' });
    const token = await w.session(admin.id);
    expect((await s.request('POST', `/v1/users/${owner.id}/deactivate`, { token, body: {} })).status).to.equal(403);
    const r = await s.request('POST', `/v1/users/${owner.id}/keys/revoke`, { token, body: {} });
    expect(r.status).to.equal(403);
    expect((await s.request('GET', '/v1/auth/me', { token: ownerKey.token })).status).to.equal(200);
  });

  it('2. a keys:read key cannot reveal a broader sibling, and a keys:create key cannot rotate an unscoped one', async () => {
    const ws = await w.workspace(adminId, 'W');
    const u = await w.account({ [ws]: 'admin' });
    const broad = await w.key(u.id, ws, { retrievable: true });
    const reader = await w.key(u.id, ws, { scopes: ['keys:read'] });
    const creator = await w.key(u.id, ws, { scopes: ['keys:create', 'keys:read'] });
    const reveal = await s.request('GET', `/v1/keys/${broad.id}/token`, { token: reader.token });
    expect(reveal.status).to.equal(403);
    expect(code(reveal)).to.equal('exceeds_credential');
    expect(reveal.text).to.not.include(broad.token);
    const rotate = await s.request('POST', `/v1/keys/${broad.id}/rotate`, { token: creator.token, body: {} });
    expect(rotate.status).to.equal(403);
    expect(code(rotate)).to.equal('exceeds_credential');
    expect(s.running.ledger.read.findKey(broad.id)!.rotatedTo).to.equal(null);
    // Within its own bounds it still works: the creator rotates a key no broader than itself.
    const narrow = await w.key(u.id, ws, { scopes: ['keys:read'], retrievable: true });
    const ok = await s.request('POST', `/v1/keys/${narrow.id}/rotate`, { token: creator.token, body: {} });
    expect(ok.status, ok.text).to.equal(201);
    expect(ok.body.scopes).to.deep.equal(['keys:read']);
  });

  it('3. a password change needs a session and the current password, shares the login throttle, and records failures', async () => {
    const session = await s.login();
    const key = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'k' } })).body.token as string;
    const viaKey = await s.request('PUT', '/v1/users/me/password', {
      token: key,
      body: { currentPassword: ADMIN_PASSWORD, newPassword: 'a brand new password' },
    });
    expect(viaKey.status).to.equal(403);
    expect(code(viaKey)).to.equal('session_required');
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        s.request('PUT', '/v1/users/me/password', {
          token: session,
          body: { currentPassword: `guess ${i} wrong`, newPassword: 'a brand new password' },
        }),
      ),
    );
    expect(guesses.filter((r) => r.status === 400)).to.have.length(5); // only five reach argon2
    for (const r of guesses.filter((x) => x.status !== 400)) expect(r.status).to.equal(429);
    const failed = await eventsOfType(s, 'UserPasswordChangeFailed');
    expect(failed.filter((e) => e.data.reason === 'bad_password')).to.have.length(5);
    expect(failed.filter((e) => e.data.reason === 'throttled')).to.have.length(1);
    // The same throttle holds logins for that account, and a system admin can lift it (an event).
    expect(
      (await s.request('POST', '/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).status,
    ).to.equal(429);
    const other = await w.account({}, true);
    const lift = await s.request('POST', `/v1/users/${adminId}/unlock`, { token: await w.session(other.id) });
    expect(lift.status, lift.text).to.equal(200);
    expect(await eventsOfType(s, 'UserLockoutLifted')).to.have.length(1);
    expect(
      (await s.request('POST', '/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).status,
    ).to.equal(200);
  });

  it('4. revocation feeds show only the caller’s workspaces, and introspection of another tenant’s token is inactive', async () => {
    const t = await twoTenants();
    const verifier = await w.key(t.attacker.id, t.A, { scopes: ['keys:verify'] });
    const before = s.running.ledger.read.position;
    await s.running.ledger.keys.revoke(t.victimKey.id, 'leaked: see ticket 4711', SYSTEM);
    const adminSession = await s.login();
    await waitUntil(
      async () =>
        (await s.request('GET', `/v1/revocations?after=${before}`, { token: adminSession })).body.items.length > 0,
      5000,
      'the feed',
    );
    const list = await s.request('GET', `/v1/revocations?after=${before}`, { token: verifier.token });
    expect(list.status).to.equal(200);
    expect(list.body.items).to.deep.equal([]);
    expect(list.text).to.not.include(t.victim.id);
    expect(list.text).to.not.include('4711');
    // The SSE stream is scoped the same way: it catches up without B's item.
    const events: RevocationEvent[] = [];
    const comments: string[] = [];
    const ac = new AbortController();
    const done = readEventStream(
      `${s.url}/v1/revocations/stream?after=${before}`,
      { headers: { authorization: `Bearer ${verifier.token}` }, signal: ac.signal },
      { onEvent: (e) => events.push(JSON.parse(e.data) as RevocationEvent), onComment: (c) => comments.push(c) },
    ).catch(() => undefined);
    await waitUntil(() => comments.some((c) => c.startsWith('caught-up')), 5000, 'the stream to catch up');
    expect(events).to.deep.equal([]);
    ac.abort();
    await done;
    // Introspection: B's live token is inactive to A's verifier, with no e-mail or workspace.
    const bKey = await w.key(t.victim.id, t.B);
    const intro = await s.request('POST', '/oauth/introspect', { token: verifier.token, body: { token: bKey.token } });
    expect(intro.body).to.deep.equal({ active: false });
    const verify = await s.request('POST', '/v1/keys/verify', { token: verifier.token, body: { token: bKey.token } });
    expect(verify.body).to.deep.equal({ valid: false, code: 'NOT_FOUND', key: null });
  });

  it('5. a key of workspace A revoking "all my keys" leaves its owner’s keys in workspace B alone', async () => {
    const A = await w.workspace(adminId, 'A');
    const B = await w.workspace(adminId, 'B');
    const u = await w.account({ [A]: 'member', [B]: 'owner' });
    const inA = await w.key(u.id, A, { scopes: ['keys:revoke'] });
    const inB = await w.key(u.id, B);
    const r = await s.request('POST', '/v1/users/me/keys/revoke', { token: inA.token, body: {} });
    expect(r.status, r.text).to.equal(200);
    expect(r.body).to.deep.equal({ revoked: 1, skipped: 0 });
    expect((await s.request('GET', '/v1/auth/me', { token: inB.token })).status).to.equal(200);
  });

  it('7. an unknown role in an old event degrades to no permission, never to a 500', async () => {
    const ws = await w.workspace(adminId, 'W');
    const u = await w.account({ [ws]: 'member' });
    const key = await w.key(u.id, ws);
    // A fact written by an older, unvalidated version: straight into the store, past every decider.
    const ledger = s.running.ledger;
    const data = { workspaceId: ws, userId: u.id, role: 'god' };
    const meta = {
      eventId: '7d1c2a4e-0000-4000-8000-000000000001',
      occurredAt: new Date().toISOString(),
      actor: { type: 'system', id: 'cli' },
      request: {},
      correlationId: 'c',
      causationId: null,
      schemaVersion: 1,
    };
    const { position } = await ledger.store.append(
      `workspace-${ws}`,
      [{ id: meta.eventId, type: 'WorkspaceMemberRoleSet', data, metadata: meta }],
      'any',
    );
    await ledger.read.waitFor(position);
    const session = await w.session(u.id);
    const me = await s.request('GET', '/v1/auth/me', { token: session });
    expect(me.status, me.text).to.equal(200);
    expect(me.body.role).to.equal(null);
    expect(me.body.scopes).to.deep.equal([]);
    expect((await s.request('GET', '/v1/auth/me', { token: key.token })).status).to.equal(401);
    expect((await s.request('GET', `/v1/workspaces/${ws}`, { token: session })).status).to.equal(404);
  });

  it('8. an impossible date is a 400, not 2 March', async () => {
    const session = await s.login();
    const r = await s.request('POST', '/v1/keys', {
      token: session,
      body: { name: 'k', expiresAt: '2027-02-30T00:00:00Z' },
    });
    expect(r.status).to.equal(400);
    expect(r.body.errors[0].attr).to.equal('expiresAt');
  });

  it('8. requested scopes the owner does not hold are refused with 400, not stored', async () => {
    const ws = await w.workspace(adminId, 'W');
    const m = await w.account({ [ws]: 'member' });
    const r = await s.request('POST', '/v1/keys', {
      token: await w.session(m.id),
      body: { name: 'k', workspaceId: ws, scopes: ['audit:read'] },
    });
    expect(r.status).to.equal(400);
    expect(r.body.errors[0].code).to.equal('scope_not_held');
    expect(await eventsOfType(s, 'ApiKeyCreated')).to.have.length(0);
  });

  it('8. ten parallel correct logins all succeed and record no failure', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        s.request('POST', '/v1/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } }),
      ),
    );
    expect(results.map((r) => r.status)).to.deep.equal(Array(10).fill(200));
    expect(await eventsOfType(s, 'UserLoginFailed')).to.have.length(0);
  });

  it('8. an SSE stream ends with event: error as soon as its credential is revoked', async () => {
    const session = await s.login();
    const key = (
      await s.request('POST', '/v1/keys', { token: session, body: { name: 'feed', scopes: ['keys:verify'] } })
    ).body as {
      id: string;
      token: string;
    };
    const seen: Array<{ event: string; data: string }> = [];
    const comments: string[] = [];
    let ended = false;
    const done = readEventStream(
      `${s.url}/v1/revocations/stream`,
      { headers: { authorization: `Bearer ${key.token}` }, signal: new AbortController().signal },
      { onEvent: (e) => seen.push({ event: e.event, data: e.data }), onComment: (c) => comments.push(c) },
    )
      .catch(() => undefined)
      .finally(() => (ended = true));
    await waitUntil(() => comments.some((c) => c.startsWith('caught-up')), 5000, 'the stream to catch up');
    await s.request('POST', `/v1/keys/${key.id}/revoke`, { token: session, body: {} });
    // The heartbeat is 15 s by default: only the revocation itself can end the stream this soon.
    await waitUntil(() => ended, 1000, 'the stream to end within a second');
    await done;
    const last = seen[seen.length - 1]!;
    expect(last.event).to.equal('error');
    expect(JSON.parse(last.data)).to.include({ code: 'invalid_token' });
  });

  it('8. narrowing a member’s role publishes a restricted event for their keys', async () => {
    const ws = await w.workspace(adminId, 'W');
    const u = await w.account({ [ws]: 'admin' });
    const ledger = s.running.ledger;
    const { key } = await ledger.keys.create({ userId: u.id, workspaceId: ws, name: 'jwt', format: 'jwt' }, SYSTEM);
    const before = ledger.read.position;
    await ledger.workspaces.setMemberRole(ws, u.id, 'auditor', SYSTEM);
    const session = await s.login();
    let items: RevocationEvent[] = [];
    await waitUntil(
      async () =>
        (items = (await s.request('GET', `/v1/revocations?after=${before}`, { token: session })).body
          .items as RevocationEvent[]).length > 0,
      5000,
      'the restricted item',
    );
    expect(items.map((i) => [i.type, i.subject])).to.deep.equal([[REVOCATION_TYPES.restricted, key.id]]);
    expect(items[0]!.data.scopes).to.deep.equal(['audit:export', 'audit:read', 'keys:read']);
  });

  it('8. /docs does not persist pasted credentials', async () => {
    const r = await s.request('GET', '/docs/init.js');
    expect(r.text).to.include('persistAuthorization: false');
  });

  it('seed 002: {"handle":"ci-key"} alone creates a key named after its handle', async () => {
    const session = await s.login();
    const r = await s.request('POST', '/v1/keys', { token: session, body: { handle: 'ci-key' } });
    expect(r.status, r.text).to.equal(201);
    expect(r.body).to.include({ name: 'ci-key', handle: 'ci-key' });
    const none = await s.request('POST', '/v1/keys', { token: session, body: {} });
    expect(none.status).to.equal(400);
    expect(none.body.errors[0].attr).to.equal('name');
  });

  it('the world fixture’s password is the real one (sessions made by login work the same)', async () => {
    const u = await w.account();
    expect(
      (await s.request('POST', '/v1/auth/login', { body: { email: u.email, password: PASSWORD } })).status,
    ).to.equal(200);
  });
});
