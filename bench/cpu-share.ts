// Where a run's CPU went, from /proc: the server's own process (its threads included), each of its child processes by
// script, processes found by their command line (the Kafka broker), this benchmark's process (the load generator),
// and the rest of the machine. Read before and after the run; printed in cores.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Linux's clock ticks per second for /proc times (USER_HZ: 100 on every mainstream kernel). */
const HZ = 100;

interface ProcTimes {
  /** This process's own user + system ticks. */
  readonly own: number;
  /** Its reaped children's (a snapshot process that ran and exited within the run). */
  readonly reaped: number;
  readonly ppid: number;
  readonly cmd: string;
}

function procTimes(pid: number, dir = `/proc/${pid}`): ProcTimes | null {
  try {
    const stat = readFileSync(`${dir}/stat`, 'utf8');
    // After the command name (which may hold spaces): state, ppid, … utime (14th field), stime, cutime, cstime.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const n = (i: number): number => Number(f[i - 3]);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { own: n(14) + n(15), reaped: n(16) + n(17), ppid: n(4), cmd };
  } catch {
    return null; // ended meanwhile
  }
}

/** A task's time runnable but not running, in ns (schedstat's second field; 0 where the kernel keeps none). */
function runQueueWait(dir: string): number {
  try {
    return Number(readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Busy ticks of the whole machine (all CPUs), from /proc/stat. */
function machineBusy(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  void idle;
  void iowait;
  return user! + nice! + system! + irq! + softirq! + steal!;
}

export interface CpuGroups {
  /** The server's pid. */
  readonly server: number;
  /** Its child processes, by a word of their command line (the script). */
  readonly children: Readonly<Record<string, string>>;
  /** Other processes by a word of their command line, e.g. { 'Kafka broker': 'kafka.Kafka' }. */
  readonly others: Readonly<Record<string, string>>;
}

interface Snapshot {
  readonly at: number;
  readonly busy: number;
  readonly bench: number;
  readonly server: ProcTimes | null;
  /** The server's main thread alone (its task whose id is its pid). */
  readonly serverMain: number;
  /** Nanoseconds the server's main thread, and this process's, have spent runnable but waiting for a CPU. */
  readonly serverWait: number;
  readonly benchWait: number;
  /** Each matching process's ticks and its group, by pid. */
  readonly procs: Map<
    number,
    { readonly group: string; readonly ticks: number; readonly child: boolean; readonly wait: number }
  >;
}

function snapshot(g: CpuGroups): Snapshot {
  const procs: Snapshot['procs'] = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === g.server) continue;
    const t = procTimes(Number(name));
    if (t === null) continue;
    const child = t.ppid === g.server;
    const groups = child ? Object.entries(g.children) : Object.entries(g.others);
    const hit = groups.find(([, word]) => t.cmd.includes(word));
    if (hit) {
      const wait = child ? runQueueWait(`/proc/${name}/task/${name}`) : 0;
      procs.set(Number(name), { group: hit[0], ticks: t.own, child, wait });
    }
  }
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    busy: machineBusy(),
    bench: ((self.user + self.system) / 1e6) * HZ,
    server: procTimes(g.server),
    serverMain: procTimes(g.server, `/proc/${g.server}/task/${g.server}`)?.own ?? 0,
    serverWait: runQueueWait(`/proc/${g.server}/task/${g.server}`),
    benchWait: runQueueWait(`/proc/${process.pid}/task/${process.pid}`),
    procs,
  };
}

export interface CpuShare {
  /** Each group's CPU over the run, in cores. */
  readonly cores: Map<string, number>;
  /** The share of the run each main thread spent runnable but waiting for a CPU (the server's children's included). */
  readonly waiting: Map<string, number>;
}

/** Starts measuring; the returned function ends it. */
export function cpuShare(g: CpuGroups): () => CpuShare {
  const before = snapshot(g);
  return () => {
    const after = snapshot(g);
    const seconds = (after.at - before.at) / 1000;
    const ticks = new Map<string, number>();
    const add = (name: string, t: number): void => void ticks.set(name, (ticks.get(name) ?? 0) + Math.max(0, t));
    const main = after.serverMain - before.serverMain;
    add('server main thread', main);
    add('server threads', (after.server?.own ?? 0) - (before.server?.own ?? 0) - main);
    // Every group in the order given, before the ones found only at the end.
    for (const [label] of [...Object.entries(g.children), ...Object.entries(g.others)]) add(label, 0);
    // Children that ended within the run are in the server's reaped ticks, whole: less what they had used before it.
    let reaped = (after.server?.reaped ?? 0) - (before.server?.reaped ?? 0);
    for (const [pid, b] of before.procs) if (b.child && !after.procs.has(pid)) reaped -= b.ticks;
    add('ended children', reaped);
    for (const [pid, a] of after.procs) add(a.group, a.ticks - (before.procs.get(pid)?.ticks ?? 0));
    add('load generator (this process)', after.bench - before.bench);
    const known = [...ticks.values()].reduce((x, y) => x + y, 0);
    const busy = after.busy - before.busy;
    add('rest of the machine', busy - known);
    const cores = new Map([...ticks].map(([name, t]) => [name, t / HZ / seconds]));
    cores.set('idle', Math.max(0, availableParallelism() - busy / HZ / seconds));
    // Shares of the run's wall time: how long each was ready to run while others had the CPUs.
    const waiting = new Map([
      ['server main thread', (after.serverWait - before.serverWait) / 1e9 / seconds],
      ['load generator', (after.benchWait - before.benchWait) / 1e9 / seconds],
    ]);
    // A niced child that lags may be starved (it waits here) or waiting on something else (it sleeps): this tells which.
    for (const [pid, a] of after.procs) {
      const b = before.procs.get(pid);
      if (a.child && b !== undefined)
        waiting.set(a.group, (waiting.get(a.group) ?? 0) + (a.wait - b.wait) / 1e9 / seconds);
    }
    return { cores, waiting };
  };
}

/** "server main thread 0.92, …; waiting for a CPU: server main thread 12% of the run, …" for a figure's detail. */
export function formatShare(share: CpuShare): string {
  const cores = [...share.cores]
    .filter(([, c]) => c >= 0.005)
    .map(([name, c]) => `${name} ${c.toFixed(2)}`)
    .join(', ');
  const waiting = [...share.waiting].map(([name, w]) => `${name} ${(w * 100).toFixed(0)}%`).join(', ');
  return `${cores}; runnable but waiting for a CPU: ${waiting} of the run`;
}
