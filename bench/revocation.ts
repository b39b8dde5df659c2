// npm run bench:revocation — time from a revoke call's HTTP response to the moment a subscriber sees the event,
// through Kafka (a revocation watcher on the revocations topic) and through SSE (/v1/revocations/stream), each
// against its target and a baseline measured in the same run on the same server and broker:
//   SSE   vs a bare HTTP round trip (GET /healthz) to the same server;
//   Kafka vs a bare produce→consume round trip on the same broker (same producer and fetch settings).
// The server runs in a child process of its own (the API, the feeds and the publisher); the subscribers run here.
// Revocations go one at a time, each waiting until every subscriber saw it, so the figures carry no queueing.
//
//   BENCH_REVOCATIONS=300             revocations measured (after 20 warm-up ones)
//   LEDGER_TEST_KAFKA_BROKERS=h:p     the broker; without it the Kafka half says why it skipped
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import {
  createRevocationWatcher,
  readEventStream,
  REVOCATION_TYPES,
  type RevocationEvent,
  type RevocationWatcher,
} from '../clients/index.js';
import { revocationsPlugin } from '../services/revocations/plugin.js';
import { waitUntil } from '../test/support/async.js';
import { testBrokers, uniqueTopics } from '../test/support/kafka.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer } from '../test/support/server.js';
import { figure, machine, misses } from './report.js';

const COUNT = Number(process.env.BENCH_REVOCATIONS ?? 300);
if (!Number.isInteger(COUNT) || COUNT < 10) throw new TypeError('BENCH_REVOCATIONS must be a whole number ≥ 10');
const WARMUP = 20;
/** Heartbeats only keep the watcher fresh here; they are not on the measured path. */
const KAFKA_HEARTBEAT_MS = 1000;
/** The watcher's staleness bound; its fetch long-poll is a third of it (capped at 1 s), as in production. */
const STALE_AFTER_MS = 10_000;
const SEEN_TIMEOUT_MS = 5000;

// ------------------------------------------------------------------ output

const fix = (n: number, d = 1): string => n.toFixed(d);

interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

const ms = (v: number): string => `${fix(v, v < 10 ? 2 : 1)} ms`;
const spread = (st: Stats): string => `p50 ${ms(st.p50)}, p95 ${ms(st.p95)}, max ${ms(st.max)}`;

// ------------------------------------------------------------------ the server (child process)

async function serverChild(env: Record<string, string>): Promise<void> {
  const s = await startTestServer({ LOG_LEVEL: 'silent', ...env }, [
    revocationsPlugin({ kafkaHeartbeatMs: KAFKA_HEARTBEAT_MS }),
  ]);
  process.on('message', (m) => {
    if (m !== 'stop') return;
    s.dispose().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.send!({ url: s.url });
}

function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--server', JSON.stringify(env)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve({ child, url: m.url }));
    child.once('exit', (code) => reject(new Error(`server child exited ${code}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.send('stop');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// ------------------------------------------------------------------ HTTP client

async function call(url: string, method: string, path: string, token: string | null, body?: unknown): Promise<any> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(url + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${text.slice(0, 200)}`);
  return text === '' ? undefined : JSON.parse(text);
}

// ------------------------------------------------------------------ subscribers

/** Arrival times (performance.now()) of each key's revocation, per subscriber, with waiters for the next one. */
class Arrivals {
  readonly at = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();

  seen(keyId: string): void {
    if (this.at.has(keyId)) return;
    this.at.set(keyId, performance.now());
    this.waiters.get(keyId)?.();
  }

  wait(keyId: string, timeoutMs: number): Promise<boolean> {
    if (this.at.has(keyId)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(keyId);
        resolve(false);
      }, timeoutMs);
      this.waiters.set(keyId, () => {
        clearTimeout(timer);
        this.waiters.delete(keyId);
        resolve(true);
      });
    });
  }
}

async function openSse(url: string, token: string, arrivals: Arrivals): Promise<() => Promise<void>> {
  const ac = new AbortController();
  let caughtUp = false;
  const done = readEventStream(
    `${url}/v1/revocations/stream`,
    { headers: { authorization: `Bearer ${token}` }, signal: ac.signal },
    {
      onEvent: (e) => {
        const ev = JSON.parse(e.data) as RevocationEvent;
        if (ev.type === REVOCATION_TYPES.revoked) arrivals.seen(ev.subject);
      },
      onComment: (c) => {
        if (c.startsWith('caught-up')) caughtUp = true;
      },
    },
  ).catch((err: unknown) => {
    if (!ac.signal.aborted) throw err;
  });
  await waitUntil(() => caughtUp, 10_000, 'the SSE stream to catch up');
  return async () => {
    ac.abort();
    await done;
  };
}

// ------------------------------------------------------------------ baselines

async function httpBaseline(url: string, n: number): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await call(url, 'GET', '/healthz', null);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call(url, 'GET', '/healthz', null);
    out.push(performance.now() - t0);
  }
  return stats(out);
}

/** A bare produce→consume round trip: the publisher's producer settings, the watcher's fetch settings. */
async function kafkaBaseline(brokers: string[], n: number): Promise<Stats> {
  const topic = `bench.${Date.now().toString(36)}-${randomBytes(4).toString('hex')}.roundtrip`;
  const kafka = new Kafka({ clientId: 'bench-baseline', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({
    groupId: `bench-${randomBytes(6).toString('hex')}`,
    maxWaitTimeInMs: Math.min(1000, Math.floor(STALE_AFTER_MS / 3)),
    minBytes: 1,
  });
  const arrivals = new Arrivals();
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  try {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ message }) => {
        arrivals.seen(message.key!.toString());
        return Promise.resolve();
      },
    });
    await waitUntil(() => joined, 15_000, 'the baseline consumer to join');
    const out: number[] = [];
    for (let i = 0; i < n + WARMUP; i++) {
      const key = `m${i}`;
      const t0 = performance.now();
      await producer.send({ topic, acks: -1, messages: [{ key, value: JSON.stringify({ i }) }] });
      if (!(await arrivals.wait(key, SEEN_TIMEOUT_MS))) throw new Error(`baseline message ${i} did not arrive`);
      if (i >= WARMUP) out.push(arrivals.at.get(key)! - t0);
    }
    return stats(out);
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    const cleanup = kafka.admin();
    await cleanup.connect().catch(() => undefined);
    await cleanup.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await cleanup.disconnect().catch(() => undefined);
  }
}

interface PathResult {
  latencies: number[];
  /** Seen before the revoke call's response arrived (counted as 0 ms). */
  early: number;
  missed: number;
}

/** One propagation path against its p99 target, then its same-run baseline with the ratios. */
function reportPath(label: string, targetMs: number, r: PathResult, baselineLabel: string, baseline: Stats): void {
  const st = stats(r.latencies);
  figure(
    label,
    `p99 ${ms(st.p99)}`,
    `p99 ≤ ${targetMs} ms`,
    r.missed === 0 && st.p99 <= targetMs,
    `  ${spread(st)}; ${r.early} seen before the response (as 0 ms), ${r.missed} missed`,
  );
  const ratio = `p50 ×${fix(st.p50 / baseline.p50, 2)}, p99 ×${fix(st.p99 / baseline.p99, 2)}`;
  figure(
    `  baseline: ${baselineLabel}`,
    `p99 ${ms(baseline.p99)}`,
    '',
    null,
    `  ${spread(baseline)}; ratio to baseline ${ratio}`,
  );
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  console.log(`token-ledger revocation propagation benchmark (BENCH_REVOCATIONS=${COUNT})`);
  console.log(machine());
  const brokers = testBrokers();
  const topics = uniqueTopics('bench');
  const env: Record<string, string> = brokers
    ? {
        LEDGER_KAFKA_BROKERS: brokers.join(','),
        LEDGER_KAFKA_EVENTS_TOPIC: topics.events,
        LEDGER_KAFKA_REVOCATIONS_TOPIC: topics.revocations,
      }
    : {};
  console.log(
    brokers
      ? `kafka: ${brokers.join(',')} (topic ${topics.revocations}, publisher heartbeat ${KAFKA_HEARTBEAT_MS} ms)`
      : 'kafka: skipped — LEDGER_TEST_KAFKA_BROKERS is not set (npm run kafka:start, then LEDGER_TEST_KAFKA_BROKERS=127.0.0.1:19092)',
  );

  const { child, url } = await startServer(env);
  let closeSse: (() => Promise<void>) | null = null;
  let watcher: RevocationWatcher | null = null;
  try {
    const admin = (
      (await call(url, 'POST', '/v1/auth/login', null, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })) as {
        token: string;
      }
    ).token;
    const feedKey = (await call(url, 'POST', '/v1/keys', admin, { name: 'bench-feed', scopes: ['keys:verify'] })) as {
      token: string;
    };
    const keys: string[] = [];
    for (let i = 0; i < COUNT + WARMUP; i++)
      keys.push(((await call(url, 'POST', '/v1/keys', admin, { name: `k${i}` })) as { id: string }).id);

    const sse = new Arrivals();
    closeSse = await openSse(url, feedKey.token, sse);
    const kafka = brokers ? new Arrivals() : null;
    if (brokers && kafka) {
      watcher = createRevocationWatcher({
        kafka: { brokers, topic: topics.revocations },
        staleAfterMs: STALE_AFTER_MS,
        onEvent: (ev) => {
          if (ev.type === REVOCATION_TYPES.revoked) kafka.seen(ev.subject);
        },
      });
      await watcher.ready;
    }
    const subscribers: Array<[string, Arrivals]> = [
      ['sse', sse],
      ...(kafka ? ([['kafka', kafka]] as Array<[string, Arrivals]>) : []),
    ];
    const results = new Map<string, PathResult>(
      subscribers.map(([name]) => [name, { latencies: [], early: 0, missed: 0 }]),
    );
    const revokeCalls: number[] = [];

    for (const [i, keyId] of keys.entries()) {
      const t0 = performance.now();
      await call(url, 'POST', `/v1/keys/${keyId}/revoke`, admin, {});
      const tResponse = performance.now();
      const seen = await Promise.all(subscribers.map(([, a]) => a.wait(keyId, SEEN_TIMEOUT_MS)));
      if (i < WARMUP) continue;
      revokeCalls.push(tResponse - t0);
      subscribers.forEach(([name, a], j) => {
        const r = results.get(name)!;
        if (!seen[j]) {
          r.missed++;
          return;
        }
        const d = a.at.get(keyId)! - tResponse;
        if (d < 0) r.early++;
        r.latencies.push(Math.max(0, d));
      });
    }

    const httpRtt = await httpBaseline(url, COUNT);
    const kafkaRtt = brokers ? await kafkaBaseline(brokers, COUNT) : null;

    console.log(
      `\nrevoke → subscriber sees it, ${COUNT} revocations one at a time (after ${WARMUP} warm-up), from the revoke call's HTTP response`,
    );
    console.log(`  ${'figure'.padEnd(34)} ${'value'.padStart(18)}   ${'target'.padEnd(22)} verdict`);
    const rc = stats(revokeCalls);
    figure('revoke call itself (for scale)', `p99 ${ms(rc.p99)}`, '', null, `  ${spread(rc)}`);
    reportPath('SSE /v1/revocations/stream', 50, results.get('sse')!, 'GET /healthz round trip', httpRtt);
    const kafkaRes = results.get('kafka');
    if (kafkaRes && kafkaRtt) {
      reportPath('Kafka (watcher on revocations)', 100, kafkaRes, 'produce→consume', kafkaRtt);
    } else {
      figure(
        'Kafka (watcher on revocations)',
        'skipped',
        'p99 ≤ 100 ms',
        null,
        '  no broker: set LEDGER_TEST_KAFKA_BROKERS',
      );
    }
    console.log('\nFor comparison, Unkey documents up to 30 s for a deleted key to stop verifying everywhere.');
  } finally {
    await closeSse?.();
    await watcher?.close();
    await stopServer(child);
  }
  console.log(misses() === 0 ? '\nall targets met' : `\n${misses()} target(s) missed`);
}

if (process.argv[2] === '--server') await serverChild(JSON.parse(process.argv[3] ?? '{}') as Record<string, string>);
else await main();
