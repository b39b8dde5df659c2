// A real server on a loopback port with its own data folder, plus a small JSON client.
import { loadConfig } from '../../services/config.js';
import { createLogger } from '../../services/logger.js';
import { startServer, type PluginFactory, type RunningServer } from '../../services/server.js';
import { tempDir } from './tmp.js';
import type { LedgerOptions } from '../../services/ledger.js';
import pino, { type Logger } from 'pino';
import { Writable } from 'node:stream';
import { checkedFetch, forgetContract, loadContract } from './contract.js';

export const ADMIN_EMAIL = 'admin@example.com';
export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface Res {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface TestServer {
  running: RunningServer;
  url: string;
  dataDir: string;
  request(
    method: string,
    path: string,
    opts?: { token?: string; scheme?: string; headers?: Record<string, string>; body?: unknown; raw?: string },
  ): Promise<Res>;
  login(email?: string, password?: string): Promise<string>;
  restart(): Promise<TestServer>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startTestServer(
  env: Record<string, string> = {},
  plugins: PluginFactory[] = [],
  dir?: { path: string; cleanup: () => void },
  overrides: Partial<LedgerOptions> = {},
  logger: Logger = createLogger('silent'),
): Promise<TestServer> {
  const data = dir ?? tempDir('server');
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LEDGER_DATA_DIR: data.path,
    LEDGER_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    LEDGER_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LEDGER_USAGE_FLUSH_MS: '50',
    ...env,
  });
  const origWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true; // keep bootstrap lines out of the test report
  let running: RunningServer;
  try {
    running = await startServer(config, logger, plugins, overrides);
  } finally {
    process.stdout.write = origWrite;
  }
  const url = running.url;
  // From here on every response this server gives a test is checked against its OpenAPI document.
  await loadContract(url);
  let stopped = false;
  const self: TestServer = {
    running,
    url,
    dataDir: data.path,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token) headers.authorization = `${opts.scheme ?? 'Bearer'} ${opts.token}`;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const r = await checkedFetch(url + path, { method, headers, body });
      const text = await r.text();
      let parsed: unknown = undefined;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: r.status, headers: r.headers, body: parsed, text };
    },
    async login(email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
      const r = await self.request('POST', '/v1/auth/login', { body: { email, password } });
      if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
      return r.body.token as string;
    },
    async restart() {
      await self.stop();
      return startTestServer(env, plugins, data, overrides, logger);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      forgetContract(url);
      await running.close();
    },
    async dispose() {
      await self.stop();
      data.cleanup();
    },
  };
  return self;
}

/** Every event of `type` in the server's store, oldest first. */
export async function eventsOfType(s: TestServer, type: string): Promise<Array<{ data: any }>> {
  const out: Array<{ data: any }> = [];
  let after = -1;
  for (;;) {
    const page = await s.running.ledger.store.readAll({ after, maxCount: 500 });
    for (const e of page.events) if (e.type === type) out.push({ data: e.data });
    after = page.lastPosition;
    if (page.isEnd) return out;
  }
}

/** A pino logger writing into a string, for tests that read log lines. */
export function memoryLogger(level = 'info'): { logger: Logger; text: () => string } {
  let logged = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged += chunk.toString();
      cb();
    },
  });
  return { logger: pino({ level }, sink), text: () => logged };
}

export const INVALID_TOKEN_BODY = {
  type: 'client_error',
  errors: [{ code: 'invalid_token', detail: 'The provided token is expired or invalid.', attr: null, extra: null }],
};
