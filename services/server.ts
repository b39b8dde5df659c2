// main: bind, open the ledger, serve; SIGTERM stops accepting, drains in-flight requests (with a deadline), flushes usage, closes the store.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ConfigError, type Config } from './config.js';
import { bootstrapAdmin } from './bootstrap.js';
import { createHandler } from './http/app.js';
import type { AppDeps, ReadinessCheck } from './http/context.js';
import { Metrics } from './http/metrics.js';
import type { RouteDef } from './http/route.js';
import type { Ledger, LedgerOptions } from './ledger.js';
import { openLedger } from './open-ledger.js';
import type { SigningKey } from './crypto/key-material.js';

export interface Plugin {
  readonly name: string;
  routes?(): RouteDef[];
  readiness?(): ReadinessCheck[];
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export type PluginFactory = (ctx: { ledger: Ledger; config: Config; logger: Logger; metrics: Metrics; signingKey: SigningKey }) => Plugin | Promise<Plugin>;

export interface RunningServer {
  readonly server: Server;
  readonly ledger: Ledger;
  readonly url: string;
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
  return { head: { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers }, body };
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
  if (err.code === 'ECONNRESET' || (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') answerOnSocket(socket, 431, 'headers_too_large', 'The request headers are too large.');
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') answerOnSocket(socket, 408, 'request_timeout', 'The request took too long to arrive.');
  else answerOnSocket(socket, 400, 'bad_request', 'The request is not valid HTTP.');
}

/** Binds before anything is written, so a bad HOST or a taken PORT stops the start with a one-line message. */
function listen(server: Server, config: Pick<Config, 'host' | 'port'>): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `HOST=${config.host} PORT=${config.port}`;
      if (err.code === 'EADDRINUSE') reject(new ConfigError(`PORT ${config.port} is already in use (${where})`, { cause: err }));
      else if (err.code === 'EACCES') reject(new ConfigError(`PORT ${config.port} needs privileges this process lacks (${where})`, { cause: err }));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN')
        reject(new ConfigError(`HOST ${config.host} is not an address of this machine (${where}: ${err.code})`, { cause: err }));
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
  const server = createServer((req, res) => (handler ? handler(req, res) : res.writeHead(503, starting.head).end(starting.body)));
  server.on('clientError', onClientError);
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => answerOnSocket(socket, 405, 'method_not_allowed', 'CONNECT is not supported.'));
  // In-flight requests, so shutdown can cut keep-alive connections the moment the last one is answered.
  let inFlight = 0;
  let onDrained: (() => void) | null = null;
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) onDrained?.();
    });
  });
  await listen(server, config);
  server.keepAliveTimeout = 5000;

  let ledger: Ledger | null = null;
  const loaded: Plugin[] = [];
  try {
    const opened = await openLedger(config, { log: (msg, err) => logger.error({ err }, msg), ...overrides });
    ledger = opened.ledger;
    const { signingKey } = opened;
    await ledger.start();
    await bootstrapAdmin(ledger, config, (line) => process.stdout.write(`${line}\n`));
    const metrics = new Metrics();
    for (const make of plugins) loaded.push(await make({ ledger, config, logger, metrics, signingKey }));
    const deps: AppDeps = {
      ledger,
      config,
      logger,
      metrics,
      publicJwks: () => [signingKey.publicJwk],
      readiness: loaded.flatMap((p) => p.readiness?.() ?? []),
      extraRoutes: loaded.flatMap((p) => p.routes?.() ?? []),
    };
    handler = createHandler(deps);
    for (const p of loaded) await p.start?.();
  } catch (err) {
    // A failed start leaves nothing open behind it.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const p of loaded.reverse()) await p.stop?.().catch(() => undefined);
    const opened = ledger;
    if (opened)
      await opened
        .stop()
        .finally(() => opened.store.close())
        .catch(() => undefined);
    throw err;
  }
  const live = ledger;
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, store: live.store.kind, dataDir: config.dataDir }, 'token-ledger listening');
  let closing: Promise<void> | null = null;
  return {
    server,
    ledger: live,
    url,
    close: () =>
      (closing ??= (async () => {
        // 1. Stop accepting. 2. Let in-flight requests finish, up to the deadline, then cut what is left.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        onDrained = () => server.closeAllConnections();
        if (inFlight === 0) server.closeAllConnections();
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), config.shutdownTimeoutMs)));
        if ((await Promise.race([closed, deadline])) === 'late') {
          logger.warn({ inFlight, timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed; closing the remaining connections');
          server.closeAllConnections();
          await closed;
        }
        clearTimeout(timer);
        // 3. Flush usage (ledger.stop), 4. close the store.
        for (const p of loaded.reverse()) await p.stop?.();
        await live.stop();
        await live.store.close();
      })()),
  };
}
