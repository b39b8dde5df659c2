// Shutdown drains with a deadline and still flushes usage before the store closes; /readyz notices a read model that stopped following.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { waitUntil } from '../support/async.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('e2e: server lifecycle', () => {
  let s: TestServer;
  afterEach(async () => s.dispose());

  it('SIGTERM-style close: a request that never finishes is cut at the deadline, then usage is flushed and the store closed', async () => {
    s = await startTestServer({ LEDGER_SHUTDOWN_TIMEOUT_MS: '300', LEDGER_USAGE_FLUSH_MS: '3600000' });
    const session = await s.login();
    const key = (await s.request('POST', '/v1/keys', { token: session, body: { name: 'used' } })).body as {
      id: string;
      token: string;
    };
    expect((await s.request('GET', '/v1/auth/me', { token: key.token })).status).to.equal(200); // one use, pending in memory
    // A client that declares a body and never sends it: its request stays in flight.
    const arrived = once(s.running.server, 'request');
    const socket = connect(Number(new URL(s.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      `POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${session}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na`,
    );
    await arrived;
    const cut = once(socket, 'close');
    const started = Date.now();
    await s.stop();
    expect(Date.now() - started).to.be.below(5000);
    await cut;
    s = await s.restart();
    const after = await s.request('GET', `/v1/keys/${key.id}`, { token: await s.login() });
    expect(after.body.useCount, after.text).to.be.at.least(1);
    expect(after.body.lastUsedAt).to.be.a('string');
  });

  it('close returns at once when nothing is in flight, even with idle keep-alive connections', async () => {
    s = await startTestServer({ LEDGER_SHUTDOWN_TIMEOUT_MS: '60000' });
    expect((await s.request('GET', '/healthz')).status).to.equal(200); // leaves a keep-alive connection open
    const started = Date.now();
    await s.stop();
    expect(Date.now() - started).to.be.below(5000);
  });

  it('/readyz turns 503 when the read model stops following the store', async () => {
    s = await startTestServer({ LEDGER_READY_MAX_LAG_MS: '100' });
    const ready = await s.request('GET', '/readyz');
    expect(ready.status, ready.text).to.equal(200);
    // Stop the subscription (as a failure would), then write past it.
    await s.running.ledger.stop();
    await s.running.ledger.store.append(`probe-${randomUUID()}`, [
      { id: randomUUID(), type: 'ReadinessProbe', data: {}, metadata: {} },
    ]);
    let notReady = ready;
    await waitUntil(
      async () => {
        notReady = await s.request('GET', '/readyz');
        return notReady.status === 503;
      },
      5000,
      'readyz 503',
    );
    expect(notReady.body.ready).to.equal(false);
    expect(notReady.body.checks.find((c: { name: string }) => c.name === 'read_model')).to.include({ ok: false });
  });
});
