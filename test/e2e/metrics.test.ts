// GET /metrics on a real server: the default Node metrics, the ledger gauges, and the counters that logins,
// authentications and throttles move.
import { expect } from 'chai';
import { SYSTEM } from '../../services/ledger.js';
import { ADMIN_EMAIL, startTestServer, type TestServer } from '../support/server.js';

/** The value of one sample line, e.g. `name{a="b"}`, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('e2e: /metrics', () => {
  let s: TestServer;
  afterEach(async () => s.dispose());

  const scrape = async (): Promise<string> => {
    const r = await s.request('GET', '/metrics');
    expect(r.status).to.equal(200);
    return r.text;
  };

  it('is Prometheus text with the default Node metrics, the ledger gauges and request latency', async () => {
    s = await startTestServer();
    await s.request('GET', '/healthz');
    const r = await s.request('GET', '/metrics');
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds',
    ])
      expect(r.text, name).to.match(new RegExp(`^# TYPE ${name} `, 'm'));
    expect(sample(r.text, 'ledger_read_model_position')).to.be.at.least(0);
    expect(sample(r.text, 'ledger_keys')).to.equal(0);
    expect(sample(r.text, 'ledger_usage_pending')).to.equal(0);
    expect(sample(r.text, 'http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}')).to.equal(
      1,
    );
  });

  it('counts logins by outcome, authentications by presentation and outcome, and throttles by kind', async () => {
    s = await startTestServer({ LEDGER_LOGIN_MAX_FAILURES: '2' });
    const login = (email: string, password: string) =>
      s.request('POST', '/v1/auth/login', { body: { email, password } });
    const session = await s.login();
    const key = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'k', scopes: ['keys:verify'] } }))
      .body as { token: string };
    const ledger = s.running.ledger;
    const gone = await ledger.users.register(
      { email: 'gone@example.com', name: 'Gone', password: 'correct horse battery staple' },
      SYSTEM,
    );
    await ledger.users.deactivate(gone.id, 'left', SYSTEM);

    expect((await login('nobody@example.com', 'some password here')).status).to.equal(401);
    expect((await login('gone@example.com', 'correct horse battery staple')).status).to.equal(401);
    expect((await s.request('GET', '/v1/auth/me', { token: key.token, scheme: 'Api-Key' })).status).to.equal(200);
    expect((await s.request('GET', '/v1/auth/me', { token: 'tl_notatoken', scheme: 'Bearer' })).status).to.equal(401);
    const verified = await s.request('POST', '/v1/keys/verify', {
      token: key.token,
      scheme: 'APIToken',
      body: { token: key.token },
    });
    expect(verified.status).to.equal(200); // the raw verify path counts too
    for (let i = 0; i < 2; i++) expect((await login(ADMIN_EMAIL, `wrong password ${i}`)).status).to.equal(401);
    expect((await login(ADMIN_EMAIL, 'wrong password again')).status).to.equal(429);
    const change = await s.request('PUT', '/v1/users/me/password', {
      token: session,
      body: { currentPassword: 'wrong password once more', newPassword: 'a brand new long password' },
    });
    expect(change.status).to.equal(429); // the account is throttled for password changes too

    const text = await scrape();
    expect(sample(text, 'ledger_logins_total{outcome="success"}')).to.equal(1);
    expect(sample(text, 'ledger_logins_total{outcome="unknown_user"}')).to.equal(1);
    expect(sample(text, 'ledger_logins_total{outcome="inactive"}')).to.equal(1);
    expect(sample(text, 'ledger_logins_total{outcome="bad_password"}')).to.equal(2);
    expect(sample(text, 'ledger_logins_total{outcome="throttled"}')).to.equal(1);
    expect(sample(text, 'ledger_throttled_total{kind="login"}')).to.equal(1);
    expect(sample(text, 'ledger_throttled_total{kind="password_change"}')).to.equal(1);
    expect(sample(text, 'ledger_authentications_total{presentation="api-key",outcome="valid"}')).to.equal(1);
    expect(sample(text, 'ledger_authentications_total{presentation="bearer",outcome="invalid"}')).to.equal(1);
    expect(sample(text, 'ledger_authentications_total{presentation="apitoken",outcome="valid"}')).to.equal(1);
    // The session: key creation, then the password change.
    expect(sample(text, 'ledger_authentications_total{presentation="bearer",outcome="valid"}')).to.equal(2);
    expect(
      sample(text, 'http_request_duration_seconds_count{method="POST",route="/v1/keys/verify",status="200"}'),
    ).to.equal(1);
  });

  it('two servers in one process keep their own counts', async () => {
    s = await startTestServer();
    const other = await startTestServer();
    try {
      await other.login();
      expect(sample(await scrape(), 'ledger_logins_total{outcome="success"}')).to.equal(0);
      expect(sample((await other.request('GET', '/metrics')).text, 'ledger_logins_total{outcome="success"}')).to.equal(
        1,
      );
    } finally {
      await other.dispose();
    }
  });
});
