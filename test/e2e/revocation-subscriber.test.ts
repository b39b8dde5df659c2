// The example subscriber (examples/revocation-subscriber.ts), run as its own process against a started server:
// keys on stdin, one decision per line on stdout, never the key itself. Over SSE always; over Kafka with a broker.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import { describeKafka, publisherCaughtUp, REPO_ROOT, uniqueTopics } from '../support/kafka.js';
import { startTestServer, type TestServer } from '../support/server.js';

const EXAMPLE = join(REPO_ROOT, 'dist/examples/revocation-subscriber.js');

interface Decision {
  decision: 'accept' | 'refuse';
  code: string;
  keyId: string | null;
}

/** Runs the example with `input` on stdin; resolves with its decisions, stdout text and exit code. */
function runExample(
  env: Record<string, string>,
  input: string,
  timeoutMs = 30_000,
): Promise<{ code: number | null; out: string; err: string; decisions: Decision[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EXAMPLE], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`example took longer than ${timeoutMs} ms\n${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const decisions = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Decision);
      resolve({ code, out, err, decisions });
    });
    child.stdin.end(input);
  });
}

async function jwtKeys(
  s: TestServer,
  admin: string,
): Promise<{ ok: { id: string; token: string }; dead: { id: string; token: string } }> {
  const make = async (name: string): Promise<{ id: string; token: string }> =>
    (await s.request('POST', '/v1/keys', { token: admin, body: { name, format: 'jwt' } })).body;
  const ok = await make('ok');
  const dead = await make('dead');
  expect((await s.request('POST', `/v1/keys/${dead.id}/revoke`, { token: admin, body: {} })).status).to.equal(200);
  return { ok, dead };
}

function expectDecisions(
  r: { code: number | null; out: string; decisions: Decision[] },
  ok: { id: string; token: string },
  dead: { id: string; token: string },
): void {
  expect(r.code).to.equal(0);
  expect(r.decisions.map((d) => [d.decision, d.code, d.keyId])).to.deep.equal([
    ['accept', 'VALID', ok.id],
    ['refuse', 'REVOKED', dead.id],
    ['refuse', 'MALFORMED', null],
  ]);
  for (const t of [ok.token, dead.token]) expect(r.out).to.not.include(t.split('.')[2]);
}

describe('e2e: example revocation subscriber (SSE)', function () {
  this.timeout(40_000);

  it('accepts a live JWT key and refuses a revoked one, offline, reading keys from stdin', async () => {
    const s = await startTestServer({}, [revocationsPlugin({ heartbeatMs: 200 })]);
    try {
      const admin = await s.login();
      const feed = (
        await s.request('POST', '/v1/keys', { token: admin, body: { name: 'feed', scopes: ['keys:verify'] } })
      ).body as { token: string };
      const { ok, dead } = await jwtKeys(s, admin);
      const r = await runExample(
        { LEDGER_URL: s.url, LEDGER_TOKEN: feed.token },
        `${ok.token}\n${dead.token}\nnot-a-key\n`,
      );
      expectDecisions(r, ok, dead);
      expect(r.err).to.include('"status":"watching"');
      expect(r.err).to.not.include(feed.token);
    } finally {
      await s.dispose();
    }
  });

  it('exits 2 with a clear message when it has no feed to read', async () => {
    const r = await runExample({ LEDGER_URL: 'http://127.0.0.1:1' }, '');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/LEDGER_TOKEN/);
  });
});

describeKafka('e2e: example revocation subscriber (Kafka)', (brokers) => {
  it('does the same reading the revocations topic', async function () {
    this.timeout(60_000);
    const topics = uniqueTopics('example');
    const s = await startTestServer(
      {
        LEDGER_KAFKA_BROKERS: brokers.join(','),
        LEDGER_KAFKA_EVENTS_TOPIC: topics.events,
        LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
      },
      [revocationsPlugin({ kafkaHeartbeatMs: 200 })],
    );
    try {
      const admin = await s.login();
      const { ok, dead } = await jwtKeys(s, admin);
      // The watcher is as current as the topic: let the revocation reach it first.
      await publisherCaughtUp(s);
      const r = await runExample(
        {
          LEDGER_URL: s.url,
          LEDGER_KAFKA_BROKERS: brokers.join(','),
          LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
        },
        `${ok.token}\n${dead.token}\nnot-a-key\n`,
      );
      expectDecisions(r, ok, dead);
      expect(r.err).to.include('"via":"kafka"');
    } finally {
      await s.dispose();
    }
  });
});
