// npm run bench:restart — how fast the service is ready again: restart to /readyz with a long history (with a read-model
// snapshot) against an empty ledger, 1M events with a snapshot, replay without one against a raw row read, and
// `npm start` on a built tree against a bare node:http server; every ratio against a baseline measured in this run.
// BENCH_SCALE=0.1 for a quick run.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteEventStore } from '../events/store/sqlite.js';
import { ReadSide } from '../services/commands/read-side.js';
import { feedSnapshotFile, snapshotFile } from '../services/snapshots/snapshot-file.js';
import { Snapshotter } from '../services/snapshots/snapshotter.js';
import type { SnapshotDone } from '../services/snapshots/snapshot-job.js';
import { tempDir } from '../test/support/tmp.js';
import { figure, machine, misses } from './report.js';
import { readAllRows } from './raw-read.js';
import { writeLedgerLog } from './restart-log.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
if (!(SCALE > 0)) throw new TypeError('BENCH_SCALE must be a positive number');
const scaled = (n: number): number => Math.max(1000, Math.round(n * SCALE));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'dist/services/cli/main.js');
const RUNS = 3;

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const ratio = (n: number): string => `×${n.toFixed(2)}`;
/** Three rounds, so the median is not the first, cold one. */
const REPLAY_ROUNDS = 3;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** The server's own account of its read-model restore (from its log), in the last serve timed. */
let restoreMs = NaN;

/** Spawns a command (its own process group) and times it from spawn to a 200 on /readyz; then stops it. */
async function timeToReady(cmd: string, args: string[], env: Record<string, string>): Promise<number> {
  restoreMs = NaN;
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    const at = out.indexOf('read model restored from snapshot');
    if (at >= 0) restoreMs = Number(/"ms":(\d+)/.exec(out.slice(out.lastIndexOf('\n', at) + 1))?.[1]);
    else out = out.slice(out.lastIndexOf('\n') + 1);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let ms = NaN;
  try {
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) {
        ms = performance.now() - t0;
        break;
      }
      if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
  return ms;
}

const serve = (dataDir: string): Promise<number> =>
  timeToReady(process.execPath, [MAIN, 'serve'], { LEDGER_DATA_DIR: dataDir, LEDGER_SNAPSHOT_EVERY: '0' });

async function medianOf(run: () => Promise<number>): Promise<{ median: number; all: number[]; restoreMs: number }> {
  const all: number[] = [];
  const restores: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    all.push(await run());
    restores.push(restoreMs);
  }
  return { median: median(all), all, restoreMs: median(restores) };
}

/** This thread's event-loop delay while `work` runs (p99 and max, ms). */
async function loopDelay<T>(work: () => Promise<T>): Promise<{ result: T; p99: number; max: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const result = await work();
  h.disable();
  return { result, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}

/** Writes a snapshot with the server's own worker, watching this thread's event-loop delay meanwhile. */
async function snapshot(dataDir: string): Promise<{ done: SnapshotDone; p99: number; max: number }> {
  const s = new Snapshotter({
    job: {
      store: { dataDir, eventStoreUrl: null, databaseUrl: null },
      file: snapshotFile(dataDir),
      feedFile: feedSnapshotFile(dataDir),
    },
    every: 0,
    position: () => -1,
    loadedAt: -1,
    warn: (msg, d) => console.warn(msg, d),
    written: () => undefined,
    failed: () => undefined,
  });
  const { result, p99, max } = await loopDelay(() => s.snapshotNow());
  return { done: result, p99, max };
}

/**
 * The replay a start does (a fresh read side catching up on the whole log) against a raw row read of the same file
 * (rows as the store reads them: no JSON, no projection), and between them the store's decoded pages (rows + JSON).
 * The three are measured in turn, round after round; the figure is the median round's ratio, since the first round's
 * raw read runs cold and flatters it.
 */
async function replayVsRaw(dataDir: string): Promise<{ events: number; rounds: ReplayRound[] }> {
  const file = join(dataDir, 'ledger.db');
  const store = new SqliteEventStore(file);
  const rounds: ReplayRound[] = [];
  let events = 0;
  for (let round = 0; round < REPLAY_ROUNDS; round++) {
    let t0 = performance.now();
    const rows = readAllRows(store);
    const rawSec = (performance.now() - t0) / 1000;
    t0 = performance.now();
    let decoded = 0;
    for (let after = -1; ;) {
      const page = await store.readAll({ after, maxCount: 1000 });
      decoded += page.events.length;
      if (page.isEnd) break;
      after = page.lastPosition;
    }
    const decodeSec = (performance.now() - t0) / 1000;
    const read = new ReadSide(store, (msg, err) => console.error(msg, err));
    t0 = performance.now();
    await read.start();
    const replaySec = (performance.now() - t0) / 1000;
    events = read.position;
    await read.stop();
    if (rows !== events || decoded !== events)
      throw new Error(`raw ${rows} rows, decoded ${decoded}, replayed ${events}`);
    rounds.push({ rawRate: rows / rawSec, decodeRate: rows / decodeSec, replayRate: rows / replaySec });
  }
  await store.close();
  return { events, rounds };
}

interface ReplayRound {
  readonly rawRate: number;
  readonly decodeRate: number;
  readonly replayRate: number;
}

async function main(): Promise<void> {
  console.log(`token-ledger restart benchmark (BENCH_SCALE=${SCALE})`);
  console.log(machine());
  console.log(`  ${'figure'.padEnd(34)} ${'value'.padStart(18)}   ${'target'.padEnd(22)} verdict`);
  const empty = tempDir('bench-empty');
  const mid = tempDir('bench-211k');
  const big = tempDir('bench-1m');
  try {
    // An "empty" ledger: the first start creates the admin; the restarts are timed.
    await serve(empty.path);
    const midEvents = scaled(211_000);
    const midKeys = scaled(20_000);
    let t0 = performance.now();
    const n = await writeLedgerLog(mid.path, midEvents, midKeys);
    console.log(
      `\nrestart with history — ${int(n)} events, ${int(midKeys)} keys (written in ${sec(performance.now() - t0)})`,
    );

    // (c) replay without a snapshot, in process.
    const { rounds } = await replayVsRaw(mid.path);
    const ratios = rounds.map((x) => x.replayRate / x.rawRate);
    const r = rounds[ratios.indexOf(median(ratios))]!;
    figure(
      'replay without snapshot',
      `${int(r.replayRate)} ev/s`,
      '≥ ×0.6 raw row read',
      r.replayRate >= 0.6 * r.rawRate,
      `  ${ratio(r.replayRate / r.rawRate)} of a raw row read (${int(r.rawRate)} rows/s), median of ${rounds.length} interleaved rounds (${ratios.map(ratio).join(', ')}); rows + JSON alone ${int(r.decodeRate)}/s (${ratio(r.decodeRate / r.rawRate)})`,
    );

    const emptyStart = await medianOf(() => serve(empty.path));
    const first = await serve(mid.path); // also builds the audit trail (audit.db) from the whole log
    const cold = await serve(mid.path);
    const idle = await loopDelay(() => new Promise((r) => setTimeout(r, 1000)));
    const snap = await snapshot(mid.path);
    const warm = await medianOf(() => serve(mid.path));
    figure(
      'restart to /readyz, snapshot',
      sec(warm.median),
      '≤ ×1.5 empty start',
      warm.median <= 1.5 * emptyStart.median,
      `  ${ratio(warm.median / emptyStart.median)} of an empty start (${sec(emptyStart.median)}; runs ${emptyStart.all.map(sec).join(', ')}); runs ${warm.all.map(sec).join(', ')}, snapshot loaded + tail in ${int(warm.restoreMs)} ms; no snapshot ${sec(cold)} (${ratio(cold / emptyStart.median)}; first start with audit build ${sec(first)})`,
    );
    figure(
      'snapshot write (child process)',
      sec(snap.done.ms),
      'loop not blocked',
      null,
      `  ${int(snap.done.bytes / 1024)} KiB; this thread's event loop meanwhile p99 ${snap.p99.toFixed(1)} ms, max ${snap.max.toFixed(1)} ms (idle 1 s just before: p99 ${idle.p99.toFixed(1)} ms, max ${idle.max.toFixed(1)} ms)`,
    );

    // (b) 1M events / 100k keys with a snapshot.
    const bigEvents = scaled(1_000_000);
    const bigKeys = scaled(100_000);
    t0 = performance.now();
    const nb = await writeLedgerLog(big.path, bigEvents, bigKeys);
    console.log(
      `\n1M-event ledger — ${int(nb)} events, ${int(bigKeys)} keys (written in ${sec(performance.now() - t0)})`,
    );
    const bigSnap = await snapshot(big.path);
    t0 = performance.now();
    await serve(big.path); // the first start builds the audit trail from the whole log
    const auditBuild = performance.now() - t0;
    const bigWarm = await medianOf(() => serve(big.path));
    figure(
      'restart to /readyz, snapshot',
      sec(bigWarm.median),
      '≤ 3 s',
      bigWarm.median <= 3000,
      `  runs ${bigWarm.all.map(sec).join(', ')}, snapshot loaded + tail in ${int(bigWarm.restoreMs)} ms; empty start ${sec(emptyStart.median)}; snapshot ${int(bigSnap.done.bytes / 2 ** 20)} MiB written in ${sec(bigSnap.done.ms)} (loop p99 ${bigSnap.p99.toFixed(1)} ms, max ${bigSnap.max.toFixed(1)} ms); first start with audit build ${sec(auditBuild)}`,
    );

    // (d) npm start on a built tree vs a bare node:http server.
    console.log('\nnpm start on a built tree (the empty ledger)');
    const bareJs = `require('node:http').createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1')`;
    const bare = await medianOf(() => timeToReady(process.execPath, ['-e', bareJs], {}));
    const npmStart = await medianOf(() =>
      timeToReady('npm', ['start', '--silent'], { LEDGER_DATA_DIR: empty.path, LEDGER_SNAPSHOT_EVERY: '0' }),
    );
    const npmBare = await medianOf(() => timeToReady('npm', ['exec', '--offline', '--', 'node', '-e', bareJs], {}));
    // What bounds it: loading the service's modules alone, then a bare server (no ledger, no store, no plugin).
    const importJs = `Promise.all([import(${JSON.stringify(join(ROOT, 'dist/services/server.js'))}), import(${JSON.stringify(join(ROOT, 'dist/services/cli/plugins.js'))})]).then(() => { ${bareJs} })`;
    const imports = await medianOf(() => timeToReady(process.execPath, ['-e', importJs], {}));
    figure(
      '`npm start` to /readyz',
      sec(npmStart.median),
      '≤ ×2 bare server',
      npmStart.median <= 2 * bare.median,
      `  ${ratio(npmStart.median / bare.median)} of a bare node:http start (${sec(bare.median)}); node main.js serve ${sec(emptyStart.median)} (${ratio(emptyStart.median / bare.median)}); the bare server under npm ${sec(npmBare.median)}, after importing the service's modules ${sec(imports.median)} (${ratio(imports.median / bare.median)})`,
    );
  } finally {
    empty.cleanup();
    mid.cleanup();
    big.cleanup();
  }
  console.log(misses() === 0 ? '\nall targets met' : `\n${misses()} target(s) missed`);
}

await main();
