// npm run bench:http — the Koa service vs a bare node:http server doing the same lookup, both loaded by autocannon.
import autocannon from 'autocannon';
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { loadConfig } from '../services/config.js';
import { openLedger } from '../services/open-ledger.js';
import { bootstrapAdmin } from '../services/bootstrap.js';
import { tempDir } from '../test/support/tmp.js';
import { figure, machine, misses } from './report.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 32;

async function prepare(dir: string): Promise<{ token: string }> {
  const config = loadConfig({
    LEDGER_DATA_DIR: dir,
    LEDGER_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com',
    LEDGER_BOOTSTRAP_ADMIN_PASSWORD: 'bench password 123',
  });
  const { ledger } = await openLedger(config, { log: () => undefined });
  await ledger.start();
  await bootstrapAdmin(ledger, config, () => undefined);
  const admin = [...ledger.read.users()][0]!;
  // A realistic index: many keys, one of which we present.
  for (let i = 0; i < 2000; i++)
    await ledger.keys.create({ userId: admin.id, name: `k${i}` }, { actor: { type: 'system', id: 'bench' } });
  const { token } = await ledger.keys.create(
    { userId: admin.id, name: 'bench' },
    { actor: { type: 'system', id: 'bench' } },
  );
  await ledger.stop();
  await ledger.store.close();
  return { token };
}

function start(
  mode: 'koa' | 'koa-bare' | 'bare' | 'floor',
  dir: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(new URL('./http-target.js', import.meta.url), [mode, dir], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve({ child, url: m.url }));
    child.once('exit', (code) => reject(new Error(`${mode} target exited ${code}`)));
  });
}

function load(
  url: string,
  opts: { method: 'GET' | 'POST'; path: string; token: string; body?: string },
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: url + opts.path,
        method: opts.method,
        connections: CONNECTIONS,
        duration: DURATION,
        headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
        body: opts.body,
      },
      (err, res) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res)),
    );
  });
}

/**
 * p99 at a fixed rate, open loop: requests leave on a uniform schedule (not in autocannon's per-second bursts) over
 * keep-alive sockets with pre-built request bytes, and each latency runs from its scheduled time, so a stall counts
 * against every request it delays. Raw sockets keep the generator's own cost far below the server's.
 */
async function pacedP99(
  url: string,
  opts: { method: 'GET' | 'POST'; path: string; token: string; body?: string },
  rate: number,
): Promise<number> {
  const target = new URL(url);
  const body = opts.body ?? '';
  const wire = Buffer.from(
    `${opts.method} ${opts.path} HTTP/1.1\r\nhost: ${target.host}\r\nauthorization: Bearer ${opts.token}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const total = Math.max(1, Math.floor(rate * DURATION));
  const latencies = new Float64Array(total);
  const queue: Array<{ i: number; due: number }> = [];
  let done = 0;
  let failed = 0;
  let closed = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    // Bounded: a run that cannot finish says so instead of hanging the benchmark.
    setTimeout(
      () => reject(new Error(`paced run stuck: ${done} of ${total} done, ${closed} sockets closed mid-request`)),
      (DURATION + 30) * 1000,
    ).unref();
  });

  interface Conn {
    socket: Socket;
    busy: { i: number; due: number } | null;
    buf: Buffer;
  }
  const idle: Conn[] = [];
  const complete = (c: Conn, ok: boolean, reusable = true): void => {
    const job = c.busy!;
    c.busy = null;
    if (!ok) failed++;
    latencies[job.i] = performance.now() - job.due;
    if (++done === total) finish();
    if (!reusable) return;
    const next = queue.shift();
    if (next) send(c, next);
    else idle.push(c);
  };
  const send = (c: Conn, job: { i: number; due: number }): void => {
    c.busy = job;
    c.socket.write(wire);
  };
  const conns = await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () =>
        new Promise<Conn>((resolve, reject) => {
          const socket = connect(Number(target.port), target.hostname, () => resolve(c));
          const c: Conn = { socket, busy: null, buf: Buffer.alloc(0) };
          socket.setNoDelay(true);
          socket.once('error', reject);
          // A socket the server closes fails its request and leaves the pool, so the run cannot hang on it.
          socket.on('close', () => {
            const gone = idle.indexOf(c);
            if (gone >= 0) idle.splice(gone, 1);
            if (c.busy !== null) {
              closed++;
              complete(c, false, false);
            }
          });
          socket.on('data', (chunk: Buffer) => {
            c.buf = c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
            // One response at a time per socket: complete once its headers and Content-Length bytes are in.
            const end = c.buf.indexOf('\r\n\r\n');
            if (end < 0 || c.busy === null) return;
            const head = c.buf.subarray(0, end).toString('latin1');
            const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
            if (c.buf.length < end + 4 + length) return;
            c.buf = c.buf.subarray(end + 4 + length);
            complete(c, head.startsWith('HTTP/1.1 200'));
          });
        }),
    ),
  );
  idle.push(...conns);
  const t0 = performance.now();
  let sent = 0;
  const tick = (): void => {
    const now = performance.now();
    while (sent < total && t0 + (sent * 1000) / rate <= now) {
      const job = { i: sent, due: t0 + (sent * 1000) / rate };
      const c = idle.shift(); // round robin keeps every socket warm (an idle one would hit the keep-alive timeout)
      if (c) send(c, job);
      else queue.push(job);
      sent++;
    }
    if (sent < total) setImmediate(tick);
  };
  tick();
  await finished;
  for (const c of conns) c.socket.destroy();
  if (failed > 0)
    throw new Error(`${failed} of ${total} paced requests failed (${closed} on sockets the server closed)`);
  latencies.sort();
  const at = (q: number): number => latencies[Math.min(total - 1, Math.floor(total * q))]!;
  if (process.env.BENCH_DEBUG)
    console.log(
      `    paced ${rate}/s: p50 ${at(0.5).toFixed(2)} p90 ${at(0.9).toFixed(2)} p99 ${at(0.99).toFixed(2)} max ${at(1).toFixed(2)} ms`,
    );
  return at(0.99);
}

const dir = tempDir('bench-http');
try {
  const { token } = await prepare(dir.path);
  console.log(machine());
  console.log(
    `autocannon, ${CONNECTIONS} connections, ${DURATION}s per run; the load generator shares the machine with the server`,
  );
  console.log(
    (process.env.BENCH_ACCESS_LOG ?? 'on') === 'off'
      ? 'access logging: off on both sides (BENCH_ACCESS_LOG=off)'
      : 'access logging: on for both sides, one pino info line per request to /dev/null (BENCH_ACCESS_LOG=off to disable)',
  );
  // Throughput targets against the bare server: the performance issue's (×0.9 for verify, ×0.7 for a protected GET).
  const scenarios = [
    {
      name: 'POST /v1/keys/verify',
      method: 'POST' as const,
      path: '/v1/keys/verify',
      body: JSON.stringify({ token }),
      target: 0.9,
    },
    { name: 'GET  /v1/auth/me (protected GET)', method: 'GET' as const, path: '/v1/auth/me', target: 0.7 },
  ];
  for (const sc of scenarios) {
    const results: Record<string, { rps: number; p99: number; halfP99: number }> = {};
    // koa-bare, the bound: Koa and its router alone around the same work (throughput only).
    for (const mode of ['bare', 'koa', 'koa-bare'] as const) {
      const { child, url } = await start(mode, dir.path);
      try {
        const r = await load(url, { ...sc, token });
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${mode}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        const halfP99 =
          mode === 'koa-bare'
            ? Number.NaN
            : await pacedP99(url, { ...sc, token }, Math.max(1, Math.floor(r.requests.average / 2)));
        results[mode] = { rps: r.requests.average, p99: r.latency.p99, halfP99 };
      } finally {
        child.kill('SIGTERM');
      }
    }
    const bare = results.bare!;
    const koa = results.koa!;
    const floor = await start('floor', dir.path);
    let floorP99: number;
    try {
      floorP99 = await pacedP99(floor.url, { ...sc, token }, Math.max(1, Math.floor(koa.rps / 2)));
    } finally {
      floor.child.kill('SIGTERM');
    }
    console.log(`\n${sc.name}`);
    console.log(
      `  bare node:http   ${bare.rps.toFixed(0)} req/s, p99 ${bare.p99} ms at max, p99 ${bare.halfP99.toFixed(2)} ms at half rate (paced)`,
    );
    console.log(
      `  token-ledger     ${koa.rps.toFixed(0)} req/s, p99 ${koa.p99} ms at max, p99 ${koa.halfP99.toFixed(2)} ms at half rate (paced)`,
    );
    const framework = results['koa-bare']!;
    const ratio = koa.rps / bare.rps;
    figure(
      'throughput vs bare node:http',
      `×${ratio.toFixed(2)}`,
      `≥ ×${sc.target.toFixed(2)}`,
      ratio >= sc.target,
      `  the bound, same run: Koa and @koa/router alone around the same work (none of the service's middleware) ${framework.rps.toFixed(0)} req/s, ×${(framework.rps / bare.rps).toFixed(2)} of bare; the service is ×${(koa.rps / framework.rps).toFixed(2)} of that`,
    );
    figure(
      'p99 at half the max rate',
      `${koa.halfP99.toFixed(2)} ms`,
      '≤ 2 ms',
      koa.halfP99 <= 2,
      `  bare: ${bare.halfP99.toFixed(2)} ms; an empty node:http handler at the same rate: ${floorP99.toFixed(2)} ms (the machine's floor)`,
    );
  }
  console.log(misses() === 0 ? '\nall targets met' : `\n${misses()} target(s) missed`);
} finally {
  dir.cleanup();
}
