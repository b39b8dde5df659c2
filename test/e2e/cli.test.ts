// The CLI as a user runs it: serve starts and stops cleanly on SIGTERM; users, keys and rebuild work on the data folder.
import { expect } from 'chai';
import { spawn, execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../support/tmp.js';

const MAIN = fileURLToPath(new URL('../../services/cli/main.js', import.meta.url));
const run = promisify(execFile);

describe('e2e: the token-ledger CLI', function () {
  this.timeout(30_000);
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir('cli')));
  afterEach(() => dir.cleanup());
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, LEDGER_DATA_DIR: dir.path, LOG_LEVEL: 'silent' });

  it('refuses an invalid configuration with a clear message', async () => {
    try {
      await run(process.execPath, [MAIN, 'serve'], { env: { ...env(), PORT: 'eighty' } });
      expect.fail('serve should have failed');
    } catch (e) {
      const err = e as { code: number; stderr: string };
      expect(err.code).to.equal(1);
      expect(err.stderr).to.include('PORT must be a whole number');
    }
  });

  it('creates users and keys, lists and revokes them, and rebuilds', async () => {
    const u = JSON.parse(
      (await run(process.execPath, [MAIN, 'users', 'create', '--email', 'cli@example.com', '--name', 'Cli', '--admin'], { env: env() })).stdout,
    ) as { id: string; password: string };
    expect(u.password).to.be.a('string');
    await run(process.execPath, [MAIN, 'users', 'create', '--email', 'ws@example.com', '--name', 'W', '--password', 'long enough password'], {
      env: env(),
    }).catch(() => undefined);
    const k = JSON.parse(
      (await run(process.execPath, [MAIN, 'keys', 'create', '--user', 'cli@example.com', '--name', 'deploy', '--expires-in', '1d'], { env: env() })).stdout,
    ) as { id: string; token: string };
    expect(k.token).to.match(/^tl_/);
    const list = (await run(process.execPath, [MAIN, 'keys', 'list', '--user', u.id], { env: env() })).stdout;
    expect(list).to.include(k.id).and.include('active');
    await run(process.execPath, [MAIN, 'keys', 'revoke', k.id, '--reason', 'done'], { env: env() });
    expect((await run(process.execPath, [MAIN, 'keys', 'list', '--user', u.id], { env: env() })).stdout).to.include('revoked');
    const rebuilt = await run(process.execPath, [MAIN, 'rebuild'], { env: env() });
    expect(rebuilt.stdout).to.match(/rebuilt from \d+ events: \d+ users, \d+ workspaces, 1 keys/);
  });

  it('serve prints the one-time admin password, answers, and shuts down gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { ...env(), PORT: '0', LEDGER_USAGE_FLUSH_MS: '3600000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no startup output: ${out}`)), 15_000);
        child.stdout.on('data', () => {
          if (out.includes('listening on')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      expect(out).to.match(/Password \(shown once.*\): \S{20,}/);
      const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
      const password = /Password \(shown once.*\): (\S+)/.exec(out)![1]!;
      const login = await fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@localhost', password }),
      });
      expect(login.status).to.equal(200);
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
