// Several real `token-ledger serve` processes on one shared store, a fresh PostgreSQL database or the EventStoreDB
// server of LEDGER_TEST_ESDB_URL: each with its own port, data folder and instance id, all with the same master key
// and bootstrap admin. Start, kill (-9), stop (SIGTERM), restart one; dispose() ends every process and drops the
// database. Bounded in time and in the number of processes.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createEsdbStore } from '../../events/store/esdb.js';
import { waitUntil } from './async.js';
import { freshDatabase, PG_ADMIN_URL, type TestDatabase } from './postgres.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, type Res } from './server.js';
import { tempDir } from './tmp.js';
import { checkedFetch, loadContract } from './contract.js';

export const MAIN = fileURLToPath(new URL('../../services/cli/main.js', import.meta.url));

type Child = ChildProcessByStdio<null, Readable, Readable>;

/** Most processes one cluster runs at once: a runaway test cannot fork the machine to death. */
const MAX_LIVE = 8;
/** From spawn to "listening on" plus a 200 from /readyz (three processes starting on two shared cores). */
const START_MS = 30_000;
/** LEDGER_SHUTDOWN_TIMEOUT_MS of every instance; SIGTERM escalates to SIGKILL after this plus a margin. */
const SHUTDOWN_MS = 2000;
const STOP_MS = SHUTDOWN_MS + 3000;
/** Output kept per process, for failure messages. */
const KEEP_CHARS = 256 * 1024;

/** Every live child of every cluster, killed if the test process exits without disposing them. */
const live = new Set<Child>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RequestOptions {
  token?: string;
  scheme?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/** One `serve` process. */
export interface Instance {
  readonly name: string;
  readonly dataDir: string;
  readonly pid: number;
  readonly url: string;
  readonly exited: Promise<Exit>;
  readonly alive: boolean;
  stdout(): string;
  stderr(): string;
  request(method: string, path: string, opts?: RequestOptions): Promise<Res>;
  login(email?: string, password?: string): Promise<string>;
}

export interface ClusterOptions {
  /** Instances started by Cluster.start (default 3). */
  readonly size?: number;
  readonly label?: string;
  /** Environment every instance gets (Kafka settings, throttles…), over the cluster's own. */
  readonly env?: Record<string, string>;
  /** Start every instance at the same moment (a bootstrap race); otherwise the first alone, then the rest together. */
  readonly together?: boolean;
  /** Share this EventStoreDB server (its whole $all is the ledger) instead of a fresh PostgreSQL database. */
  readonly eventStoreUrl?: string;
  /** The master key of every instance (default: a fresh one); a ledger already in the store needs its own. */
  readonly masterKey?: string;
}

/** Where the instances' ledger lives: its settings, and what dispose() does with it. */
interface SharedStore {
  readonly env: Record<string, string>;
  /** The PostgreSQL database, for assertions in SQL; null on EventStoreDB. */
  readonly db: TestDatabase | null;
  drop(): Promise<void>;
}

/** A process that has been spawned but may not be up yet (start-up failures are read from it). */
export interface Launched {
  readonly proc: Child;
  readonly exited: Promise<Exit>;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/** The parent's environment without any ledger setting, so a developer's shell cannot leak into an instance. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(LEDGER_|PORT$|HOST$|LOG_LEVEL$)/.test(k) || k.startsWith('LEDGER_TEST_')) env[k] = v;
  return env;
}

/** Spawns `token-ledger <args>` with `env`, collecting its output. */
export function launch(args: readonly string[], env: NodeJS.ProcessEnv): Launched {
  const proc = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  let err = '';
  const keep = (s: string, d: Buffer): string => (s.length > KEEP_CHARS ? s.slice(-KEEP_CHARS / 2) : s) + d.toString();
  proc.stdout.on('data', (d: Buffer) => (out = keep(out, d)));
  proc.stderr.on('data', (d: Buffer) => (err = keep(err, d)));
  const exited = new Promise<Exit>((resolve) =>
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    }),
  );
  return { proc, exited, stdout: () => out, stderr: () => err };
}

/** Resolves with the URL the process prints once it listens; rejects if it exits first or takes too long. */
export function listening(l: Launched, ms: number): Promise<string> {
  const found = (): string | undefined => /token-ledger listening on (http:\/\/\S+)/.exec(l.stdout())?.[1];
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      l.proc.stdout.off('data', onData);
    };
    const onData = (): void => {
      const url = found();
      if (url === undefined) return;
      done();
      resolve(url);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "listening on" within ${ms} ms\nstdout: ${l.stdout()}\nstderr: ${l.stderr()}`));
    }, ms);
    l.proc.stdout.on('data', onData);
    void l.exited.then((e) => {
      done();
      reject(
        new Error(`exited (${e.code ?? e.signal}) before listening\nstdout: ${l.stdout()}\nstderr: ${l.stderr()}`),
      );
    });
    onData();
  });
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/**
 * fetch, tried once more when an idempotent request meets a keep-alive socket the server closed as it was reused (a
 * race a loaded machine makes likely); any other failure, and any failure of a POST, is the caller's.
 */
export async function fetchIdempotent(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await checkedFetch(url, init);
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (!IDEMPOTENT.has(init.method ?? 'GET') || (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET')) throw err;
    return checkedFetch(url, init);
  }
}

export async function request(url: string, method: string, path: string, opts: RequestOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `${opts.scheme ?? 'Bearer'} ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const r = await fetchIdempotent(url + path, { method, headers, body });
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, headers: r.headers, body: parsed, text };
}

function instanceOf(name: string, dataDir: string, l: Launched, url: string): Instance {
  let alive = true;
  void l.exited.then(() => (alive = false));
  const self: Instance = {
    name,
    dataDir,
    pid: l.proc.pid!,
    url,
    exited: l.exited,
    get alive() {
      return alive;
    },
    stdout: l.stdout,
    stderr: l.stderr,
    request: (method, path, opts) => request(url, method, path, opts),
    async login(email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
      const r = await self.request('POST', '/v1/auth/login', { body: { email, password } });
      if (r.status !== 200) throw new Error(`login on ${name} failed: ${r.status} ${r.text}`);
      return (r.body as { token: string }).token;
    },
  };
  return self;
}

/** Waits until the process listens and answers /readyz with 200. */
export async function waitReady(name: string, dataDir: string, l: Launched): Promise<Instance> {
  const url = await listening(l, START_MS);
  await loadContract(url); // its responses are checked against its OpenAPI document from here on
  const inst = instanceOf(name, dataDir, l, url);
  let last = '';
  await waitUntil(
    async () => {
      if (!inst.alive) throw new Error(`${name} exited while starting: ${inst.stderr()}`);
      const r = await inst.request('GET', '/readyz');
      last = r.text;
      return r.status === 200;
    },
    START_MS,
    `${name} to be ready (last /readyz: ${last})`,
  );
  return inst;
}

/** Sends `signal` and waits for the exit; a SIGTERM that overruns is followed by SIGKILL. */
async function end(l: { proc: Child; exited: Promise<Exit> }, signal: NodeJS.Signals) {
  if (l.proc.exitCode !== null || l.proc.signalCode !== null) return l.exited;
  l.proc.kill(signal);
  const timer = setTimeout(() => l.proc.kill('SIGKILL'), STOP_MS);
  try {
    return await l.exited;
  } finally {
    clearTimeout(timer);
  }
}

export class Cluster {
  readonly instances: Instance[] = [];
  private readonly launched: Launched[] = [];
  private readonly dirs: Array<ReturnType<typeof tempDir>> = [];
  private readonly envByName = new Map<string, Record<string, string>>();
  private readonly dirByName = new Map<string, string>();
  private named = 0;

  private constructor(
    private readonly store: SharedStore,
    readonly masterKey: string,
    private readonly common: Record<string, string>,
  ) {}

  /** The PostgreSQL database of this cluster (a TypeError on EventStoreDB, which has no SQL to assert with). */
  get db(): TestDatabase {
    if (this.store.db === null) throw new TypeError('this cluster runs on EventStoreDB: it has no database');
    return this.store.db;
  }

  /**
   * `size` ready instances named a, b, c… on a fresh database (or on the EventStoreDB server named, which is left as
   * it is: the caller needs it empty, or holding only a ledger sealed with `masterKey`); on failure nothing is left
   * running.
   */
  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    let store: SharedStore;
    if (opts.eventStoreUrl !== undefined) {
      store = { env: { LEDGER_EVENTSTORE_URL: opts.eventStoreUrl }, db: null, drop: () => Promise.resolve() };
    } else {
      const db = await freshDatabase(opts.label ?? 'cluster');
      store = { env: { LEDGER_DATABASE_URL: db.url }, db, drop: () => db.drop() };
    }
    const c = new Cluster(store, opts.masterKey ?? randomBytes(32).toString('base64'), opts.env ?? {});
    try {
      const size = opts.size ?? 3;
      if (opts.together) await Promise.all(Array.from({ length: size }, () => c.add()));
      else if (size > 0) {
        await c.add();
        await Promise.all(Array.from({ length: size - 1 }, () => c.add()));
      }
      return c;
    } catch (err) {
      await c.dispose();
      throw err;
    }
  }

  /** The environment of instance `name` (its own folder and id, the shared database, key and admin). */
  env(name: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    let dir = this.dirByName.get(name);
    if (dir === undefined) {
      const d = tempDir(`cluster-${name}`);
      this.dirs.push(d);
      this.dirByName.set(name, (dir = d.path));
    }
    return {
      ...cleanEnv(),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LEDGER_DATA_DIR: dir,
      LEDGER_INSTANCE_ID: name,
      ...this.store.env,
      LEDGER_MASTER_KEY: this.masterKey,
      LEDGER_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
      LEDGER_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LEDGER_USAGE_FLUSH_MS: '50',
      LEDGER_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_MS),
      ...this.common,
      ...extra,
    };
  }

  /** Spawns `token-ledger <args>` as instance `name` would run, without waiting for anything. */
  spawn(name: string, extra: Record<string, string> = {}, args: readonly string[] = ['serve']): Launched {
    if (this.launched.filter((l) => l.proc.exitCode === null && l.proc.signalCode === null).length >= MAX_LIVE)
      throw new Error(`a cluster runs at most ${MAX_LIVE} processes at once`);
    const l = launch(args, this.env(name, extra));
    this.launched.push(l);
    return l;
  }

  /** Starts one more instance (named a, b, c… unless given) and waits until it is ready. */
  async add(name = String.fromCharCode(97 + this.named++), extra: Record<string, string> = {}): Promise<Instance> {
    this.envByName.set(name, extra);
    const l = this.spawn(name, extra);
    const inst = await waitReady(name, this.dirByName.get(name)!, l);
    const at = this.instances.findIndex((i) => i.name === name);
    if (at >= 0) this.instances[at] = inst;
    else this.instances.push(inst);
    // Started together, they finish in any order: keep a, b, c… in name order.
    this.instances.sort((x, y) => x.name.localeCompare(y.name));
    return inst;
  }

  /** Kills an instance with SIGKILL (no shutdown, its leases lapse with its connections). */
  async kill(inst: Instance): Promise<Exit> {
    return end(this.byPid(inst.pid), 'SIGKILL');
  }

  /** Stops an instance with SIGTERM (a clean shutdown, its leases handed on). */
  async stop(inst: Instance): Promise<Exit> {
    return end(this.byPid(inst.pid), 'SIGTERM');
  }

  /** Stops an instance (SIGTERM) and starts it again on the same data folder and id. */
  async restart(inst: Instance): Promise<Instance> {
    await this.stop(inst);
    return this.add(inst.name, this.envByName.get(inst.name) ?? {});
  }

  /** A client on the shared database, for assertions on what is stored. */
  async query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: this.db.url }); // a TypeError on EventStoreDB
    await c.connect();
    try {
      return (await c.query<T>(sql, values)).rows;
    } finally {
      await c.end();
    }
  }

  /** Ends every process (SIGTERM, then SIGKILL past the deadline), drops the database, removes the data folders. */
  async dispose(): Promise<void> {
    await Promise.all(this.launched.map((l) => end(l, 'SIGTERM')));
    try {
      await this.store.drop();
    } finally {
      for (const d of this.dirs) d.cleanup();
    }
  }

  private byPid(pid: number): Launched {
    const l = this.launched.find((x) => x.proc.pid === pid);
    if (l === undefined) throw new Error(`no process ${pid} in this cluster`);
    return l;
  }
}

/** Whether the test PostgreSQL answers; null when it does, else why not (for a skip message). */
export async function postgresUnreachable(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return `PostgreSQL at ${new URL(PG_ADMIN_URL).host} is unreachable (${(err as Error).message}); set LEDGER_TEST_PG_URL or start it`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Whether the EventStoreDB server at `url` can hold a cluster's ledger; null when it can, else why not (for a skip
 * message). A ledger on EventStoreDB is the server's whole $all: the server must hold no events yet (lease records and
 * the server's own are not events of a ledger).
 */
export async function esdbUnusable(url: string): Promise<string | null> {
  const store = createEsdbStore(url);
  try {
    const head = await store.headPosition();
    return head < 0 ? null : `the EventStoreDB server at LEDGER_TEST_ESDB_URL already holds events (up to ${head})`;
  } catch (err) {
    return `the EventStoreDB server at LEDGER_TEST_ESDB_URL is unusable (${(err as Error).message})`;
  } finally {
    await store.close();
  }
}
