// Login throttling and lockouts hold across instances sharing one PostgreSQL store: every instance counts the
// failures in the log, whichever instance checked the password; an unlock on one lifts the lockout on all.
import { expect } from 'chai';
import { SYSTEM } from '../../services/ledger.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, eventsOfType, type Res, type TestServer } from '../support/server.js';
import { startSharedServers, type SharedServers } from '../support/shared-servers.js';

const login = (s: TestServer, email: string, password: string): Promise<Res> =>
  s.request('POST', '/v1/auth/login', { body: { email, password } });

describe('e2e: login throttling across instances (PostgreSQL)', function () {
  this.timeout(60_000);
  let c: SharedServers;
  let a: TestServer;
  let b: TestServer;
  beforeEach(async () => {
    c = await startSharedServers('throttle', 2);
    [a, b] = c.servers as [TestServer, TestServer];
  });
  afterEach(async () => c.dispose());

  it('wrong passwords spread over both instances lock the account on both', async () => {
    // Three on a, two on b: neither instance checked five, the log holds five.
    for (const s of [a, b, a, b, a]) expect((await login(s, ADMIN_EMAIL, 'a wrong password')).status).to.equal(401);
    await c.converged();
    for (const s of [a, b]) {
      const r = await login(s, ADMIN_EMAIL, ADMIN_PASSWORD);
      expect(r.status, r.text).to.equal(429);
      expect(r.body.errors[0].code).to.equal('throttled');
      expect(Number(r.headers.get('retry-after'))).to.be.greaterThan(0);
    }
    const failures = await eventsOfType(a, 'UserLoginFailed');
    expect(failures.filter((e) => e.data.reason === 'bad_password')).to.have.length(5);
  });

  it("a system admin's unlock on one instance lifts the lockout on both", async () => {
    const other = await a.running.ledger.users.register(
      {
        email: 'second-admin@example.com',
        name: 'Second',
        password: 'another long admin password',
        systemRole: 'admin',
      },
      SYSTEM,
    );
    for (const s of [b, a, b, a, b]) expect((await login(s, ADMIN_EMAIL, 'a wrong password')).status).to.equal(401);
    await c.converged();
    expect((await login(a, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(429);
    expect((await login(b, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(429);
    const token = await a.login(other.email, 'another long admin password');
    const adminId = a.running.ledger.read.userByEmail(ADMIN_EMAIL)!.id;
    const lift = await a.request('POST', `/v1/users/${adminId}/unlock`, { token });
    expect(lift.status, lift.text).to.equal(200);
    await c.converged();
    expect((await login(b, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(200);
    expect((await login(a, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(200);
  });

  it('ten parallel correct logins spread over both instances all succeed and record no failure', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => login(i % 2 === 0 ? a : b, ADMIN_EMAIL, ADMIN_PASSWORD)),
    );
    expect(
      results.map((r) => r.status),
      results.map((r) => r.text).join('\n'),
    ).to.deep.equal(Array.from({ length: 10 }, () => 200));
    expect(await eventsOfType(a, 'UserLoginFailed')).to.have.length(0);
  });

  it('a correct login on one instance clears the failures the other instance counted', async () => {
    for (let i = 0; i < 4; i++) expect((await login(b, ADMIN_EMAIL, 'a wrong password')).status).to.equal(401);
    await c.converged();
    expect((await login(a, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(200);
    await c.converged();
    // b followed the success: four more failures there are not a lockout (4 + 4 would be, without the clear).
    for (let i = 0; i < 4; i++) expect((await login(b, ADMIN_EMAIL, 'a wrong password')).status).to.equal(401);
    expect((await login(b, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(200);
  });
});
