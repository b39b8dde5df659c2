// Failed-login throttling holds under parallel guesses, per account and per IP, and throttled requests write bounded events.
import { expect } from 'chai';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  eventsOfType,
  startTestServer,
  type Res,
  type TestServer,
} from '../support/server.js';

const login = (s: TestServer, email: string, password: string): Promise<Res> =>
  s.request('POST', '/v1/auth/login', { body: { email, password } });

function expectThrottled(r: Res): void {
  expect(r.status, r.text).to.equal(429);
  expect(r.body.errors[0].code).to.equal('throttled');
  expect(Number(r.headers.get('retry-after'))).to.be.greaterThan(0);
}

describe('e2e: login throttling', () => {
  let s: TestServer;
  afterEach(async () => s.dispose());

  it('12 parallel wrong passwords for one account: at most 5 are checked, the rest get 429 with Retry-After', async () => {
    s = await startTestServer();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => login(s, ADMIN_EMAIL, `wrong password ${i}`)),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((x) => x === 401)).to.have.length(5);
    for (const r of results.filter((x) => x.status !== 401)) expectThrottled(r);
    expectThrottled(await login(s, ADMIN_EMAIL, ADMIN_PASSWORD)); // even the right password waits now
    expect((await eventsOfType(s, 'UserLoginFailed')).filter((e) => e.data.reason === 'bad_password')).to.have.length(
      5,
    );
  });

  it('per IP: guesses spread over many accounts from one address are throttled too', async () => {
    s = await startTestServer({ LEDGER_LOGIN_MAX_FAILURES_PER_IP: '6' });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => login(s, `nobody${i}@example.com`, 'some password here')),
    );
    expect(results.filter((r) => r.status === 401)).to.have.length(6);
    for (const r of results.filter((x) => x.status !== 401)) expectThrottled(r);
    // The address is throttled for every account, including one with no failures of its own.
    expectThrottled(await login(s, ADMIN_EMAIL, ADMIN_PASSWORD));
  });

  it('a successful login clears the account count and does not count against the address', async () => {
    s = await startTestServer({ LEDGER_LOGIN_MAX_FAILURES_PER_IP: '6' });
    for (let i = 0; i < 4; i++) expect((await login(s, ADMIN_EMAIL, `wrong ${i} password`)).status).to.equal(401);
    expect((await login(s, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(200);
    expect((await login(s, ADMIN_EMAIL, ADMIN_PASSWORD)).status).to.equal(200);
    expect((await login(s, ADMIN_EMAIL, 'wrong again password')).status).to.equal(401); // 5th failure from this IP, 1st for the account
    expect((await login(s, ADMIN_EMAIL, 'wrong again password')).status).to.equal(401); // 6th from this IP
    expectThrottled(await login(s, ADMIN_EMAIL, ADMIN_PASSWORD));
  });

  it('throttled requests record one "throttled" event per account or address per window, not one each', async () => {
    s = await startTestServer({ LEDGER_LOGIN_MAX_FAILURES_PER_IP: '8' });
    for (let i = 0; i < 5; i++) await login(s, ADMIN_EMAIL, `wrong ${i} password`);
    const account = await Promise.all(Array.from({ length: 20 }, () => login(s, ADMIN_EMAIL, 'any password at all')));
    account.forEach(expectThrottled);
    for (let i = 0; i < 3; i++)
      expect((await login(s, `x${i}@example.com`, 'any password at all')).status).to.equal(401); // 8 failures: IP limit
    const spread = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(s, `spray${i}@example.com`, 'any password at all')),
    );
    spread.forEach(expectThrottled);
    const throttled = (await eventsOfType(s, 'UserLoginFailed')).filter((e) => e.data.reason === 'throttled');
    expect(throttled.map((e) => e.data.email)).to.have.length(2); // one for the account, one for the address
  });
});
