// npm run bench:soak — sustained load against the real server in a child process: verification from 10,000 distinct
// keys at half the measured peak rate (LEDGER_USAGE_FLUSH_MS=1000, so up to one ApiKeyUsed per key per second), 100
// key creations/s, 20 revocations/s, audit queries at 5/s, and the Kafka publisher when a broker is configured. Verify
// latency is compared with an idle run of the same verify load (nothing else running) in the same server.
// SOAK_SECONDS=60 per run (10 for a quick check); SOAK_STORE=sqlite | postgres | both (default both);
// SOAK_KEYS=10000; SOAK_MEMORY_TRACE=1 prints memory floors every 20 s. LEDGER_TEST_KAFKA_BROKERS=host:port turns the
// publisher on. On SQLite it first measures peak verify throughput with SOAK_FLUSH_KEYS=20000 keys in use, 50 ms usage
// flush against the default one (0 skips it). SOAK_RATE=N verifies at N req/s instead of half the peak (the peak, measured
// for 5 s, varies between runs by more than any setting moves the lags: a fixed rate makes two runs comparable).
import autocannon from 'autocannon';
import { spawnListening, type Child } from './child.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteEventStore } from '../events/store/sqlite.js';
import { bootstrapAdmin } from '../services/bootstrap.js';
import { loadConfig } from '../services/config.js';
import { SYSTEM } from '../services/ledger.js';
import { openLedger } from '../services/open-ledger.js';
import { freshDatabase, type TestDatabase } from '../test/support/postgres.js';
import { tempDir } from '../test/support/tmp.js';
import { cpuShare, formatShare, type CpuShare } from './cpu-share.js';
import { figure, machine, misses } from './report.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const KEYS = Number(process.env.SOAK_KEYS ?? 10_000);
const STORES = (process.env.SOAK_STORE ?? 'both') === 'both' ? ['sqlite', 'postgres'] : [process.env.SOAK_STORE!];
const BROKERS = process.env.LEDGER_TEST_KAFKA_BROKERS ?? '';
const EMAIL = 'admin@soak.test';
const PASSWORD = 'soak password, long enough';
const CREATES_PER_S = 100;
const REVOKES_PER_S = 20;
const AUDIT_PER_S = 5;
const SAMPLE_MS = 100;
/** Extra node flags for the server, e.g. SOAK_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it. */
const NODE_ARGS = (process.env.SOAK_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
/** Keys in use for the usage-flush figure (SQLite run only; 0 skips it), and its seconds per measurement. */
const FLUSH_KEYS = Number(process.env.SOAK_FLUSH_KEYS ?? 20_000);
const FLUSH_SECONDS = Number(process.env.SOAK_FLUSH_SECONDS ?? 10);
const FIXED_RATE = process.env.SOAK_RATE === undefined ? null : Number(process.env.SOAK_RATE);
if (!(SECONDS >= 5)) throw new TypeError('SOAK_SECONDS must be at least 5');
if (FIXED_RATE !== null && !(FIXED_RATE > 0)) throw new TypeError('SOAK_RATE must be a positive number of requests/s');
if (!STORES.every((s) => s === 'sqlite' || s === 'postgres'))
  throw new TypeError('SOAK_STORE: sqlite, postgres or both');

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const fix = (n: number, d = 2): string => n.toFixed(d);

type Server = Child;

function startServer(env: NodeJS.ProcessEnv): Promise<Server> {
  return spawnListening(
    [...NODE_ARGS, fileURLToPath(new URL('../services/cli/main.js', import.meta.url)), 'serve'],
    env,
  );
}

/** A metric's value in /metrics text (the name may carry its labels, as written there); NaN when absent. */
function metric(text: string, name: string): number {
  const at = text.indexOf(`\n${name} `);
  if (at < 0) return NaN;
  const end = text.indexOf('\n', at + 1);
  return Number(text.slice(at + name.length + 2, end < 0 ? undefined : end));
}

/** The server's main-thread JS heap in use, its capacity, and its memory outside the heap (bytes), from /metrics. */
async function heapOf(url: string): Promise<Omit<MemorySample, 't' | 'rss'>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return {
    heap: metric(text, 'nodejs_heap_size_used_bytes'),
    heapTotal: metric(text, 'nodejs_heap_size_total_bytes'),
    newSpace: metric(text, 'nodejs_heap_space_size_total_bytes{space="new"}'),
    oldSpace: metric(text, 'nodejs_heap_space_size_total_bytes{space="old"}'),
    external: metric(text, 'nodejs_external_memory_bytes'),
  };
}

interface MemorySample {
  t: number;
  rss: number;
  heap: number;
  heapTotal: number;
  /** V8's young generation (it grows with the allocation rate) and old generation, in capacity. */
  newSpace: number;
  oldSpace: number;
  external: number;
}

/** The sampled values of a MemorySample (all but its time). */
const MEMORY_FIELDS = ['rss', 'heap', 'heapTotal', 'newSpace', 'oldSpace', 'external'] as const;

/** Heap figures of a sample whose /metrics read failed: unknown, left out of the floors. */
function unknownHeap(): Omit<MemorySample, 't' | 'rss'> {
  return { heap: NaN, heapTotal: NaN, newSpace: NaN, oldSpace: NaN, external: NaN };
}

/**
 * The server's RSS and heap every 500 ms. Growth compares the lowest values of the first and last 10 s: garbage not yet
 * collected lifts single samples for a moment, and that is not growth.
 */
class MemoryWatch {
  readonly samples: MemorySample[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = performance.now();

  constructor(
    private readonly server: Server,
    private readonly url: string,
  ) {
    this.timer = setInterval(() => void this.sample(), 500);
  }

  private async sample(): Promise<void> {
    const t = performance.now() - this.t0;
    const rss = this.server.rss();
    const h = await heapOf(this.url).catch(() => null);
    this.samples.push({ t, rss, ...(h ?? unknownHeap()) });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The lowest of each value within [from, to) ms. */
  floor(from: number, to: number): MemorySample {
    const w = this.samples.filter((s) => s.t >= from && s.t < to);
    const floor: MemorySample = { t: from, rss: NaN, ...unknownHeap() };
    for (const k of MEMORY_FIELDS) floor[k] = Math.min(...w.map((s) => s[k]).filter((v) => !isNaN(v)));
    return floor;
  }

  peak(): number {
    return Math.max(...this.samples.map((s) => s.rss));
  }
}

async function call(url: string, method: string, bearer: string | null, body?: unknown): Promise<unknown> {
  const r = await fetch(url, {
    method,
    headers: {
      ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${text.slice(0, 200)}`);
  return text === '' ? null : (JSON.parse(text) as unknown);
}

/** The admin and `n` keys, created in process before the server starts (faster than over HTTP); their tokens. */
async function prepare(env: NodeJS.ProcessEnv, n: number): Promise<string[]> {
  const config = loadConfig(env);
  const { ledger } = await openLedger(config, { log: () => undefined });
  try {
    await ledger.start();
    await bootstrapAdmin(ledger, config, () => undefined);
    const admin = ledger.read.userByEmail(EMAIL)!;
    const tokens: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) {
          const i = next++;
          tokens.push((await ledger.keys.create({ userId: admin.id, name: `soak ${i}` }, SYSTEM)).token);
        }
      }),
    );
    await ledger.stop();
    return tokens;
  } finally {
    await ledger.store.close();
  }
}

/** Verification load: GET /v1/auth/me with one of the keys as bearer, cycling through all of them. */
async function verifyLoad(
  url: string,
  tokens: readonly string[],
  seconds: number,
  rate: number | null,
): Promise<autocannon.Result> {
  let i = 0;
  return autocannon({
    url: `${url}/v1/auth/me`,
    connections: 32,
    duration: seconds,
    ...(rate === null ? {} : { overallRate: Math.round(rate) }),
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${tokens[i++ % tokens.length]!}` } }),
      },
    ],
  });
}

interface Ready {
  checks: Array<{ name: string; ok: boolean; detail?: Record<string, unknown> }>;
}

/** /readyz's detail of each check, by name (empty when absent). */
async function readiness(url: string): Promise<(name: string) => Record<string, unknown>> {
  const ready = (await (await fetch(`${url}/readyz`)).json()) as Ready;
  return (name) => ready.checks.find((c) => c.name === name)?.detail ?? {};
}

/** The log's head position, as the read model reports it. */
async function logHead(url: string): Promise<number> {
  const rm = (await readiness(url))('read_model');
  return Number(rm.head ?? rm.position);
}

/** What each follower spends per event appended during the run: what a follower falling behind would need more of. */
function perEvent(share: CpuShare, eventsPerSecond: number): string {
  const each = [...share.cores]
    .filter(([name, cores]) => (name.startsWith('audit writer') || name === 'publisher') && cores > 0)
    .map(([name, cores]) => `${name} ${int((cores * 1e6) / eventsPerSecond)} µs`);
  return `${int(eventsPerSecond)} events/s appended to the log; CPU per event: ${each.join(', ')}`;
}

/** The server's child processes and the other processes whose CPU the usage-flush figure reports. */
const SERVER_CHILDREN = {
  'audit writer': 'sqlite-follower-worker',
  'audit writer (PostgreSQL)': 'postgres-follower-worker',
  publisher: 'publisher-child',
  'snapshot writer': 'snapshot-process',
};
const OTHERS = { 'Kafka broker': 'kafka.Kafka', 'PostgreSQL server': 'postgres:' };

/**
 * Peak verify throughput with FLUSH_KEYS keys in use, with the default usage flush and with a 50 ms one (a server
 * started for each on the same data folder). Beside them, what bounds the ratio: a 1 s flush, and how many ApiKeyUsed
 * events each setting writes per request (the load cycles through the keys, so a short window coalesces little).
 */
async function flushCost(env: NodeJS.ProcessEnv, tokens: readonly string[]): Promise<void> {
  const head = async (): Promise<number> => {
    const store = new SqliteEventStore(join(env.LEDGER_DATA_DIR!, 'ledger.db'));
    try {
      return await store.headPosition();
    } finally {
      await store.close();
    }
  };
  const peak = async (flushMs: string | undefined): Promise<{ rate: number; perRequest: number; cpu: string }> => {
    const server = await startServer({ ...env, LEDGER_USAGE_FLUSH_MS: flushMs });
    let requests = 0;
    let rate = 0;
    let before = 0;
    let cpu = '';
    try {
      await settled(server.url); // what the run before left to publish and to audit is not this setting's cost
      before = await head();
      requests += (await verifyLoad(server.url, tokens, 2, null)).requests.total; // warm up
      const share = cpuShare({ server: server.proc.pid!, children: SERVER_CHILDREN, others: OTHERS });
      const r = await verifyLoad(server.url, tokens, FLUSH_SECONDS, null);
      cpu = formatShare(share());
      requests += r.requests.total;
      rate = r.requests.average;
    } finally {
      await server.stop(); // a stopping server writes the uses it still holds
    }
    return { rate, perRequest: ((await head()) - before) / requests, cpu };
  };
  const slow = await peak(undefined);
  const fast = await peak('50');
  const second = await peak('1000');
  figure(
    'verify, 50 ms usage flush vs default',
    `×${fix(fast.rate / slow.rate)}`,
    '≥ ×0.7',
    fast.rate / slow.rate >= 0.7,
    `  GET /v1/auth/me over ${int(tokens.length)} keys: ${int(fast.rate)} req/s with LEDGER_USAGE_FLUSH_MS=50, ${int(slow.rate)} req/s with the default (10 s)\n` +
      `  the bound, same run: ApiKeyUsed events per request ${fix(fast.perRequest)} at 50 ms, ${fix(slow.perRequest)} with the default; a 1 s flush writes ${fix(second.perRequest)} per request and serves ${int(second.rate)} req/s (×${fix(second.rate / slow.rate)} of the default, ×${fix(second.rate / fast.rate)} of 50 ms)\n` +
      `  CPU in cores, default: ${slow.cpu}\n` +
      `  CPU in cores, 50 ms:   ${fast.cpu}\n` +
      `  CPU in cores, 1 s:     ${second.cpu}`,
  );
}

/** Largest lag seen of each follower, in events and in ms (how long ago the log's head passed its position). */
class LagWatch {
  private readonly heads: Array<{ t: number; head: number }> = [];
  readonly worst = new Map<string, { events: number; ms: number }>();
  errors = 0;

  constructor(private readonly url: string) {}

  private note(name: string, position: number, head: number, t: number): void {
    const events = Math.max(0, head - position);
    // The first sample whose head was past `position`: the oldest event still waiting has been known since then.
    const since = events === 0 ? t : (this.heads.find((h) => h.head > position)?.t ?? t);
    const w = this.worst.get(name) ?? { events: 0, ms: 0 };
    this.worst.set(name, { events: Math.max(w.events, events), ms: Math.max(w.ms, t - since) });
  }

  async sample(): Promise<void> {
    const t = performance.now();
    const detail = await readiness(this.url);
    const rm = detail('read_model');
    const head = Number(rm.head ?? rm.position);
    this.heads.push({ t, head });
    if (this.heads.length > 10_000) this.heads.splice(0, 5_000);
    this.note('read model', Number(rm.position), head, t);
    this.note('audit projection', Number(detail('audit_projection').position), head, t);
    if (BROKERS !== '') {
      const text = await (await fetch(`${this.url}/metrics`)).text();
      const w = this.worst.get('publisher') ?? { events: 0, ms: 0 };
      this.worst.set('publisher', {
        events: Math.max(w.events, metric(text, 'ledger_publisher_lag_events')),
        ms: Math.max(w.ms, metric(text, 'ledger_publisher_lag_seconds') * 1000),
      });
    }
  }
}

/**
 * Waits until the audit projection and the publisher (when on) have caught up with the log the keys were created in,
 * so the idle run measures verification alone and not their start.
 */
async function settled(url: string): Promise<void> {
  const deadline = performance.now() + 120_000;
  for (;;) {
    const detail = await readiness(url);
    const head = Number(detail('read_model').head ?? detail('read_model').position);
    let behind = head - Number(detail('audit_projection').position);
    if (BROKERS !== '') {
      const text = await (await fetch(`${url}/metrics`)).text();
      behind += metric(text, 'ledger_publisher_lag_events');
    }
    if (behind === 0) return;
    if (performance.now() > deadline) throw new Error(`followers still ${behind} events behind after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Runs `fn` `perSecond` times a second until `until`; counts failures. */
function paced(perSecond: number, fn: () => Promise<unknown>, failures: { n: number; first: unknown }): () => void {
  const timer = setInterval(() => {
    fn().catch((err: unknown) => {
      failures.n++;
      failures.first ??= err;
    });
  }, 1000 / perSecond);
  return () => clearInterval(timer);
}

async function soak(store: string): Promise<void> {
  const dir = tempDir('soak');
  let db: TestDatabase | null = null;
  let server: Server | null = null;
  try {
    if (store === 'postgres') db = await freshDatabase('soak');
    const topic = `soak-${randomBytes(4).toString('hex')}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LEDGER_DATA_DIR: dir.path,
      LEDGER_USAGE_FLUSH_MS: '1000',
      LEDGER_BOOTSTRAP_ADMIN_EMAIL: EMAIL,
      LEDGER_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
      ...(db === null ? {} : { LEDGER_DATABASE_URL: db.url, LEDGER_MASTER_KEY: randomBytes(32).toString('base64') }),
      ...(BROKERS === ''
        ? {}
        : {
            LEDGER_KAFKA_BROKERS: BROKERS,
            LEDGER_KAFKA_EVENTS_TOPIC: `${topic}.events`,
            LEDGER_KAFKA_REVOCATIONS_TOPIC: `${topic}.revocations`,
          }),
    };
    let t = performance.now();
    const tokens = await prepare(env, Math.max(KEYS, store === 'sqlite' ? FLUSH_KEYS : 0));
    console.log(
      `\n${store}${BROKERS === '' ? '' : ' + Kafka publisher'}: ${int(tokens.length)} keys created in ${fix((performance.now() - t) / 1000, 1)} s`,
    );
    if (store === 'sqlite' && FLUSH_KEYS > 0) await flushCost(env, tokens.slice(0, FLUSH_KEYS));
    server = await startServer(env);
    const url = server.url;
    const login = (await call(`${url}/v1/auth/login`, 'POST', null, { email: EMAIL, password: PASSWORD })) as {
      token: string;
    };
    const verifying = tokens.slice(0, KEYS);
    await settled(url);
    const peak = await verifyLoad(url, verifying, 5, null);
    const rate = FIXED_RATE ?? peak.requests.average / 2;
    const idle = await verifyLoad(url, verifying, SECONDS, rate);

    // The soak: the same verify load, plus writes, audit queries and the lag sampler.
    const lag = new LagWatch(url);
    const failures = { n: 0, first: null as unknown };
    const fresh: string[] = []; // keys created during the soak: the ones it revokes
    let created = 0;
    let revoked = 0;
    const memory = new MemoryWatch(server, url);
    const stops = [
      paced(
        CREATES_PER_S,
        () =>
          call(`${url}/v1/keys`, 'POST', login.token, { name: 'soak new' }).then((k) => {
            fresh.push((k as { id: string }).id);
            created++;
          }),
        failures,
      ),
      paced(
        REVOKES_PER_S,
        () => {
          const id = fresh.shift();
          return id === undefined
            ? Promise.resolve()
            : call(`${url}/v1/keys/${id}`, 'DELETE', login.token).then(() => revoked++);
        },
        failures,
      ),
      paced(AUDIT_PER_S, () => call(`${url}/v1/audit?limit=50`, 'GET', login.token), failures),
      paced(1000 / SAMPLE_MS, () => lag.sample(), failures),
    ];
    t = performance.now();
    const headBefore = await logHead(url);
    const share = cpuShare({ server: server.proc.pid!, children: SERVER_CHILDREN, others: OTHERS });
    const shareFrom = performance.now();
    const busy = await verifyLoad(url, verifying, SECONDS, rate);
    const measured = share();
    const shareSeconds = (performance.now() - shareFrom) / 1000;
    const appended = (await logHead(url)) - headBefore;
    const cpu = formatShare(measured);
    for (const stop of stops) stop();
    memory.stop();
    await lag.sample();

    const p99Ratio = busy.latency.p99 / Math.max(idle.latency.p99, 0.001);
    const errors = busy.errors + busy.non2xx + failures.n;
    console.log(
      `  verify ${int(rate)} req/s (${FIXED_RATE === null ? 'half of ' : 'SOAK_RATE; '}a measured peak ${int(peak.requests.average)}/s), ${fix((performance.now() - t) / 1000, 0)} s; ` +
        `${int(created)} keys created, ${int(revoked)} revoked while it ran\n` +
        `  CPU in cores: ${cpu}\n` +
        `  ${perEvent(measured, appended / shareSeconds)}`,
    );
    figure(
      'verify p99 under load vs idle',
      `×${fix(p99Ratio)}`,
      '≤ ×2',
      p99Ratio <= 2,
      `  p50 ${busy.latency.p50} ms / p99 ${busy.latency.p99} ms; idle p50 ${idle.latency.p50} ms / p99 ${idle.latency.p99} ms`,
    );
    for (const [name, w] of lag.worst)
      figure(`largest lag, ${name}`, `${int(w.ms)} ms`, '≤ 1,000 ms', w.ms <= 1000, `  ${int(w.events)} events`);
    const ms = SECONDS * 1000;
    const first = memory.floor(0, 10_000);
    const last = memory.floor(ms - 10_000, ms + 1_000);
    const mb = (b: number): string => fix(b / 2 ** 20, 0);
    const growth = (last.rss - first.rss) / 2 ** 20;
    figure(
      'RSS growth',
      `${fix(growth, 1)} MB`,
      '≤ 50 MB',
      growth <= 50,
      `  lowest RSS of the first and last 10 s: ${mb(first.rss)} → ${mb(last.rss)} MB (peak ${mb(memory.peak())} MB); ` +
        `main-thread JS heap ${mb(first.heap)} → ${mb(last.heap)} MB (V8's capacity ${mb(first.heapTotal)} → ${mb(last.heapTotal)} MB, of which young generation ${mb(first.newSpace)} → ${mb(last.newSpace)} MB, old ${mb(first.oldSpace)} → ${mb(last.oldSpace)} MB), outside it ${mb(first.external)} → ${mb(last.external)} MB`,
    );
    if (process.env.SOAK_MEMORY_TRACE === '1')
      for (let from = 0; from < ms; from += 20_000) {
        const f = memory.floor(from, from + 20_000);
        console.log(
          `    ${fix(from / 1000, 0)} s: RSS ${mb(f.rss)} MB, heap ${mb(f.heap)} of ${mb(f.heapTotal)} MB, external ${mb(f.external)} MB`,
        );
      }
    figure(
      'errors',
      int(errors),
      '0',
      errors === 0,
      errors === 0 ? '' : `  first: ${String(failures.first)}; verify errors ${busy.errors}, non-2xx ${busy.non2xx}`,
    );
  } finally {
    await server?.stop();
    await db?.drop();
    dir.cleanup();
  }
}

console.log(`token-ledger soak benchmark (${SECONDS} s per run, ${int(KEYS)} keys, stores: ${STORES.join(', ')})`);
console.log(machine());
for (const s of STORES) await soak(s);
console.log(misses() === 0 ? '\nall targets met' : `\n${misses()} target(s) missed`);
