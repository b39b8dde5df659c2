// npm run bench:http — the Koa service vs a bare node:http server doing the same lookup, both loaded by autocannon.
import autocannon from 'autocannon';
import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { loadConfig } from '../services/config.js';
import { openLedger } from '../services/open-ledger.js';
import { bootstrapAdmin } from '../services/bootstrap.js';
import { tempDir } from '../test/support/tmp.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 32;

async function prepare(dir: string): Promise<{ token: string }> {
  const config = loadConfig({ LEDGER_DATA_DIR: dir, LEDGER_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com', LEDGER_BOOTSTRAP_ADMIN_PASSWORD: 'bench password 123' });
  const { ledger } = await openLedger(config, { log: () => undefined });
  await ledger.start();
  await bootstrapAdmin(ledger, config, () => undefined);
  const admin = [...ledger.readModel.users.values()][0]!;
  // A realistic index: many keys, one of which we present.
  for (let i = 0; i < 2000; i++) await ledger.createKey({ userId: admin.id, name: `k${i}` }, { actor: { type: 'system', id: 'bench' } });
  const { token } = await ledger.createKey({ userId: admin.id, name: 'bench' }, { actor: { type: 'system', id: 'bench' } });
  await ledger.stop();
  await ledger.store.close();
  return { token };
}

function start(mode: 'koa' | 'bare', dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(new URL('./http-target.js', import.meta.url), [mode, dir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve({ child, url: m.url }));
    child.once('exit', (code) => reject(new Error(`${mode} target exited ${code}`)));
  });
}

function load(url: string, opts: { method: 'GET' | 'POST'; path: string; token: string; body?: string; rate?: number }): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: url + opts.path,
        method: opts.method,
        connections: CONNECTIONS,
        duration: DURATION,
        headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
        body: opts.body,
        ...(opts.rate ? { overallRate: opts.rate } : {}),
      },
      (err, res) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res)),
    );
  });
}

const dir = tempDir('bench-http');
try {
  const { token } = await prepare(dir.path);
  console.log(`machine: ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, node ${process.version}; ${CONNECTIONS} connections, ${DURATION}s per run`);
  console.log(
    (process.env.BENCH_ACCESS_LOG ?? 'on') === 'off'
      ? 'access logging: off on both sides (BENCH_ACCESS_LOG=off)'
      : 'access logging: on for both sides, one pino info line per request to /dev/null (BENCH_ACCESS_LOG=off to disable)',
  );
  const scenarios = [
    { name: 'POST /v1/keys/verify', method: 'POST' as const, path: '/v1/keys/verify', body: JSON.stringify({ token }) },
    { name: 'GET  /v1/auth/me (protected GET)', method: 'GET' as const, path: '/v1/auth/me' },
  ];
  for (const sc of scenarios) {
    const results: Record<string, { rps: number; p99: number; halfP99: number }> = {};
    for (const mode of ['bare', 'koa'] as const) {
      const { child, url } = await start(mode, dir.path);
      try {
        const r = await load(url, { ...sc, token });
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${mode}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        const half = await load(url, { ...sc, token, rate: Math.max(1, Math.floor(r.requests.average / 2)) });
        results[mode] = { rps: r.requests.average, p99: r.latency.p99, halfP99: half.latency.p99 };
      } finally {
        child.kill('SIGTERM');
      }
    }
    const bare = results.bare!;
    const koa = results.koa!;
    console.log(`\n${sc.name}`);
    console.log(`  bare node:http   ${bare.rps.toFixed(0)} req/s, p99 ${bare.p99} ms at max, p99 ${bare.halfP99} ms at half rate`);
    console.log(`  token-ledger     ${koa.rps.toFixed(0)} req/s, p99 ${koa.p99} ms at max, p99 ${koa.halfP99} ms at half rate`);
    console.log(`  ratio            ${(koa.rps / bare.rps).toFixed(2)} of bare (target ≥ 0.80); p99 at half rate ${koa.halfP99} ms (target ≤ 2 ms)`);
  }
} finally {
  dir.cleanup();
}
