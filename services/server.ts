// main: open the ledger, build the app, listen; SIGTERM drains in-flight requests, flushes usage, closes the store.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { bootstrapAdmin } from './bootstrap.js';
import { createHandler, type AppDeps, type ReadinessCheck } from './http/app.js';
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

export async function startServer(
  config: Config,
  logger: Logger,
  plugins: PluginFactory[] = [],
  overrides: Partial<LedgerOptions> = {},
): Promise<RunningServer> {
  const { ledger, signingKey } = await openLedger(config, { log: (msg, err) => logger.error({ err }, msg), ...overrides });
  await ledger.start();
  await bootstrapAdmin(ledger, config, (line) => process.stdout.write(`${line}\n`));
  const metrics = new Metrics();
  const loaded: Plugin[] = [];
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
  const server = createServer(createHandler(deps));
  for (const p of loaded) await p.start?.();
  server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.keepAliveTimeout = 5000;
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, store: ledger.store.kind, dataDir: config.dataDir }, 'token-ledger listening');
  let closing: Promise<void> | null = null;
  return {
    server,
    ledger,
    url,
    close: () =>
      (closing ??= (async () => {
        // Stop accepting, let in-flight requests finish, then flush use and close the store.
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        for (const p of loaded.reverse()) await p.stop?.();
        await ledger.stop();
        await ledger.store.close();
      })()),
  };
}
