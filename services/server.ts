// main: bind, open the ledger, serve; close() ends streams, drains in-flight requests (with a deadline), stops the plugins, flushes usage, closes the store.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ConfigError, type Config, type SettingsOwner, type SettingsSpec } from './config.js';
import { bootstrapAdmin } from './bootstrap.js';
import { createHandler } from './http/app.js';
import type { AppDeps, ReadinessCheck } from './http/context.js';
import { EventStreams } from './http/sse.js';
import { Metrics } from './metrics/registry.js';
import type { RouteDef } from './http/route.js';
import type { Ledger, LedgerOptions } from './ledger.js';
import { openLedger } from './open-ledger.js';
import type { SigningKey } from './crypto/key-material.js';
import type { EventStore } from '../events/store/types.js';
import { FolderLockedError, lockDataFolder, type FolderLock } from '../events/store/folder-lock.js';
import type { Leases } from '../events/store/leases.js';
import { openLeases } from './workers/open-leases.js';
import { isSharedStore } from './open-ledger.js';
import { Singleton, type SingletonWork } from './workers/singleton.js';
import { loadSnapshot } from './snapshots/load-snapshot.js';
import { feedSnapshotFile, snapshotFile } from './snapshots/snapshot-file.js';
import { Snapshotter } from './snapshots/snapshotter.js';

export interface Plugin {
  readonly name: string;
  routes?(): RouteDef[];
  readiness?(): ReadinessCheck[];
  /** Runs while the ledger's read model restores (with the other plugins' starts): it may not read that model. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export interface PluginContext {
  ledger: Ledger;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  signingKey: SigningKey;
  /** Open event streams; shutdown ends them before waiting for connections. */
  streams: EventStreams;
  /**
   * Runs `work` on one instance at a time (a lease per name): at once on SQLite (one instance), on the lease holder on
   * a shared store. The server stops it (and hands the lease on) when it stops.
   */
  readonly singleton: (name: string, work: SingletonWork) => Singleton;
}

/** Runs before the ledger's read model restores: it wires things up and may not read that model yet. */
export type PluginFactory = (ctx: PluginContext) => Plugin | Promise<Plugin>;

/** A progress bar for a long rebuild (the CLI draws it on stderr). */
export type Progress = (label: string, total: number) => { update(n: number): void; done(): void };

/**
 * A plugin as it is registered (services/cli/plugins.ts): the settings it reads, which loadConfig validates with the
 * core ones before anything is written; its factory, which reads them with pluginSettings(ctx.config, module); and,
 * when it keeps something derived from the log, how `token-ledger rebuild` recomputes it (returns a line to print).
 */
export interface PluginModule<S extends SettingsSpec = SettingsSpec> extends SettingsOwner {
  readonly name: string;
  readonly settings: S;
  readonly create: PluginFactory;
  rebuild?(config: Config, store: EventStore, progress: Progress): Promise<string>;
}

export interface RunningServer {
  readonly server: Server;
  readonly ledger: Ledger;
  /** Read-model snapshots of this instance (its data folder). */
  readonly snapshots: Snapshotter;
  readonly url: string;
  /** What close() is doing now (null before it starts), so a shutdown that overruns can say what it waits for. */
  readonly closingStep: string | null;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function rawEnvelope(
  status: number,
  code: string,
  detail: string,
  headers: Record<string, string | number> = {},
): { head: Record<string, string | number>; body: string } {
  const type = status >= 500 ? 'server_error' : 'client_error';
  const body = JSON.stringify({ type, errors: [{ code, detail, attr: null, extra: null }] });
  return {
    head: { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers },
    body,
  };
}

/** Requests that never reach the app (unparseable, CONNECT) still get the envelope, written straight to the socket. */
function answerOnSocket(socket: Duplex, status: number, code: string, detail: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { head, body } = rawEnvelope(status, code, detail, { connection: 'close' });
  const lines = Object.entries(head).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines.join('')}\r\n${body}`);
}

function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (
    err.code === 'ECONNRESET' ||
    (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent
  ) {
    socket.destroy();
    return;
  }
  if (err.code === 'HPE_HEADER_OVERFLOW')
    answerOnSocket(socket, 431, 'headers_too_large', 'The request headers are too large.');
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    answerOnSocket(socket, 408, 'request_timeout', 'The request took too long to arrive.');
  else answerOnSocket(socket, 400, 'bad_request', 'The request is not valid HTTP.');
}

/** Binds before anything is written, so a bad HOST or a taken PORT stops the start with a one-line message. */
function listen(server: Server, config: Pick<Config, 'host' | 'port'>): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `HOST=${config.host} PORT=${config.port}`;
      if (err.code === 'EADDRINUSE')
        reject(new ConfigError(`PORT ${config.port} is already in use (${where})`, { cause: err }));
      else if (err.code === 'EACCES')
        reject(new ConfigError(`PORT ${config.port} needs privileges this process lacks (${where})`, { cause: err }));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN')
        reject(
          new ConfigError(`HOST ${config.host} is not an address of this machine (${where}: ${err.code})`, {
            cause: err,
          }),
        );
      else reject(new ConfigError(`cannot listen on ${where}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(config.port, config.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function startServer(
  config: Config,
  logger: Logger,
  plugins: PluginFactory[] = [],
  overrides: Partial<LedgerOptions> = {},
): Promise<RunningServer> {
  let handler: Handler | null = null;
  const starting = rawEnvelope(503, 'starting', 'The service is starting; retry shortly.', { 'retry-after': 1 });
  const server = createServer((req, res) =>
    handler ? handler(req, res) : res.writeHead(503, starting.head).end(starting.body),
  );
  server.on('clientError', onClientError);
  server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
    answerOnSocket(socket, 405, 'method_not_allowed', 'CONNECT is not supported.'),
  );
  const requests = trackRequests(server);
  await listen(server, config);
  server.keepAliveTimeout = 5000;

  const streams = new EventStreams();
  const parts: Parts = { ledger: null, snapshots: null, loaded: [], lock: null, leases: null, singletons: [] };
  try {
    handler = await wire(config, logger, plugins, overrides, streams, parts);
  } catch (err) {
    // A failed start leaves nothing open behind it.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await runSteps(stopSteps(parts), () => undefined).catch(() => undefined);
    throw err;
  }
  const live = parts.ledger!;
  const snapshots = parts.snapshots!;
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, store: live.store.kind, dataDir: config.dataDir }, 'token-ledger listening');
  let closing: Promise<void> | null = null;
  let step: string | null = null;
  return {
    server,
    ledger: live,
    snapshots,
    url,
    get closingStep() {
      return step;
    },
    close: () =>
      (closing ??= (async () => {
        // 1. End event streams (they never finish on their own). 2. Stop accepting, drain in-flight requests up to the
        // deadline. 3. Stop the plugins, flush usage (ledger.stop), close the store: each step runs even if one fails.
        step = 'ending event streams and draining requests';
        streams.closeAll();
        await drain(server, requests, config.shutdownTimeoutMs, logger);
        await runSteps(stopSteps(parts), (name) => (step = name));
        step = 'closed';
      })()),
  };
}

/** What a start has opened so far, so a failed one can close it. */
interface Parts {
  ledger: Ledger | null;
  snapshots: Snapshotter | null;
  readonly loaded: Plugin[];
  lock: FolderLock | null;
  leases: Leases | null;
  readonly singletons: Singleton[];
}

/** SQLite mode is one instance per data folder: a second one refuses to start, naming the first one's pid. */
function lockFolder(config: Config): FolderLock | null {
  if (isSharedStore(config)) return null;
  try {
    return lockDataFolder(config.dataDir);
  } catch (err) {
    if (err instanceof FolderLockedError) throw new ConfigError(err.message, { cause: err });
    throw err;
  }
}

/** Opens the ledger, creates the first admin, makes the plugins and the HTTP handler, and starts the plugins. */
async function wire(
  config: Config,
  logger: Logger,
  plugins: PluginFactory[],
  overrides: Partial<LedgerOptions>,
  streams: EventStreams,
  parts: Parts,
): Promise<Handler> {
  parts.lock = lockFolder(config);
  const shared = isSharedStore(config);
  const { ledger, signingKey } = await openLedger(config, {
    log: (msg, err) => logger.error({ err }, msg),
    // On a shared store only the holder of the expiry lease writes expiries.
    ...(shared ? { expiryActive: false } : {}),
    ...overrides,
  });
  parts.ledger = ledger;
  const leases = (parts.leases = await openLeases(config));
  const log = (msg: string, err?: unknown): void => logger.error({ err }, msg);
  const singleton = (name: string, work: SingletonWork): Singleton => {
    const s = new Singleton(name, leases, work, log);
    parts.singletons.push(s);
    return s;
  };
  const metrics = new Metrics();
  if (shared)
    singleton('expiry', { start: () => ledger.expiry.setActive(true), stop: () => ledger.expiry.setActive(false) });
  for (const make of plugins)
    parts.loaded.push(await make({ ledger, config, logger, metrics, signingKey, streams, singleton }));
  // The plugins catch up by themselves (the audit writer in its own process, the feed from its snapshot) while the
  // read model restores: a start waits for the slowest of them, not for their sum.
  await settled([
    startFromSnapshot(config, logger, ledger, parts).then(() =>
      bootstrapAdmin(ledger, config, (line) => process.stdout.write(`${line}\n`)),
    ),
    // Each start as a promise: one that throws at once still lets the others (and the restore) settle first.
    ...parts.loaded.map((p) => Promise.resolve().then(() => p.start?.())),
  ]);
  const deps: AppDeps = {
    ledger,
    config,
    logger,
    metrics,
    publicJwks: () => [signingKey.publicJwk],
    readiness: parts.loaded.flatMap((p) => p.readiness?.() ?? []),
    leases,
    extraRoutes: parts.loaded.flatMap((p) => p.routes?.() ?? []),
  };
  const handler = createHandler(deps);
  for (const s of parts.singletons) s.start();
  return handler;
}

/** Waits for every one of `work`; then fails with the first failure, so nothing is still starting when a start fails. */
async function settled(work: ReadonlyArray<Promise<unknown> | undefined>): Promise<void> {
  const failed = (await Promise.allSettled(work.map((w) => w ?? Promise.resolve()))).find(
    (r) => r.status === 'rejected',
  );
  if (failed) throw failed.reason;
}

/**
 * Starts the ledger from the newest valid snapshot in the data folder (each instance keeps its own, also on a shared
 * store), then writes new ones from a worker as the log grows.
 */
async function startFromSnapshot(config: Config, logger: Logger, ledger: Ledger, parts: Parts): Promise<void> {
  const file = snapshotFile(config.dataDir);
  const warn = (msg: string, detail: object): void => logger.warn(detail, msg);
  const t0 = performance.now();
  const restored = await loadSnapshot(ledger.store, file, warn);
  const from = restored?.position ?? -1; // the model moves on as the log after it is applied
  const store = { dataDir: config.dataDir, eventStoreUrl: config.eventStoreUrl, databaseUrl: config.databaseUrl };
  await ledger.start(restored ?? undefined);
  const position = ledger.read.position;
  if (restored !== null)
    logger.info({ file, from, position, ms: Math.round(performance.now() - t0) }, 'read model restored from snapshot');
  parts.snapshots = new Snapshotter({
    job: { store, file, feedFile: feedSnapshotFile(config.dataDir) },
    every: config.snapshotEvery,
    position: () => ledger.read.position,
    loadedAt: from,
    warn,
    written: (d) =>
      logger.info(
        { file, position: d.position, bytes: d.bytes, feed: d.feed, ms: Math.round(d.ms) },
        'read-model snapshot written',
      ),
    failed: (err) => logger.error({ err }, 'writing the read-model snapshot failed'),
  });
  parts.snapshots.start();
}

interface Requests {
  readonly inFlight: number;
  /** Called each time the last request in flight is answered. */
  onIdle: (() => void) | null;
}

/** Counts requests in flight, so shutdown can cut keep-alive connections the moment the last one is answered. */
function trackRequests(server: Server): Requests {
  let inFlight = 0;
  const requests: Requests = {
    get inFlight() {
      return inFlight;
    },
    onIdle: null,
  };
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) requests.onIdle?.();
    });
  });
  return requests;
}

/** Stops accepting; lets in-flight requests finish up to the deadline, then cuts every connection left. */
async function drain(server: Server, requests: Requests, timeoutMs: number, logger: Logger): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  requests.onIdle = () => server.closeAllConnections();
  if (requests.inFlight === 0) server.closeAllConnections();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  try {
    if ((await Promise.race([closed, deadline])) === 'late') {
      logger.warn(
        { inFlight: requests.inFlight, timeoutMs },
        'shutdown deadline passed; closing the remaining connections',
      );
      server.closeAllConnections();
      await closed;
    }
  } finally {
    clearTimeout(timer);
  }
}

type Step = readonly [name: string, run: () => Promise<void>];

/**
 * What stopping takes, last started first: the lease-holding work (its leases are handed on), the plugins, then the
 * ledger (flushes key use), the store, and the data folder's lock.
 */
function stopSteps(parts: Parts): Step[] {
  const { loaded, ledger, singletons } = parts;
  const steps: Step[] = [
    ...(parts.snapshots === null ? [] : [['stopping the snapshot writer', () => parts.snapshots!.stop()] as const]),
    ...singletons.map((s): Step => [`stopping the ${s.name} singleton`, () => s.stop()]),
    ...[...loaded].reverse().map((p): Step => [`stopping the ${p.name} plugin`, async () => p.stop?.()]),
  ];
  if (parts.leases !== null) steps.push(['releasing leases', () => parts.leases!.close()]);
  if (ledger !== null) {
    steps.push(['stopping the ledger (flushing key use)', () => ledger.stop()]);
    steps.push(['closing the store', () => ledger.store.close()]);
  }
  if (parts.lock !== null) steps.push(['unlocking the data folder', () => Promise.resolve(parts.lock!.release())]);
  return steps;
}

/** Runs every step even when one fails, so the store is always closed; the first failure is rethrown. */
async function runSteps(steps: readonly Step[], onStep: (name: string) => void): Promise<void> {
  let failure: { err: unknown } | null = null;
  for (const [name, run] of steps) {
    onStep(name);
    try {
      await run();
    } catch (err) {
      failure ??= { err };
    }
  }
  if (failure) throw failure.err;
}
