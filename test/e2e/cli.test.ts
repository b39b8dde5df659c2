// The CLI as a user runs it: serve starts and stops cleanly on SIGTERM; users, keys and rebuild work on the data folder.
import { expect } from 'chai';
import { spawn, execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../support/tmp.js';

const MAIN = fileURLToPath(new URL('../../services/cli/main.js', import.meta.url));
const run = promisify(execFile);

describe('e2e: the token-ledger CLI', function () {
  this.timeout(60_000);
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

  it('prints its usage even when the environment is invalid', async () => {
    const { stdout } = await run(process.execPath, [MAIN, 'help'], { env: { ...env(), PORT: 'eighty' } });
    expect(stdout).to.include('token-ledger <command>');
  });

  it('every bad setting stops serve before anything is written: exit 1, one line naming the variable, no stack', async () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'x');
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    const takenPort = String((taken.address() as { port: number }).port);
    const fresh = join(dir.path, 'fresh');
    const cases: Array<[Record<string, string>, string]> = [
      [{ HOST: 'not a host!' }, 'HOST'],
      [{ HOST: '192.0.2.1', PORT: '0' }, 'HOST'], // a valid address that is not this machine's: found only when binding
      [{ HOST: '127.0.0.1', PORT: takenPort }, 'PORT'],
      [{ LEDGER_DATA_DIR: file }, 'LEDGER_DATA_DIR'],
      [{ LEDGER_DATA_DIR: join(file, 'below') }, 'LEDGER_DATA_DIR'],
      [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
      [{ LEDGER_MASTER_KEY: 'too-short' }, 'LEDGER_MASTER_KEY'],
      [{ LEDGER_SHUTDOWN_TIMEOUT_MS: 'soon' }, 'LEDGER_SHUTDOWN_TIMEOUT_MS'],
    ];
    try {
      for (const [bad, name] of cases) {
        try {
          await run(process.execPath, [MAIN, 'serve'], { env: { ...env(), LEDGER_DATA_DIR: fresh, LOG_LEVEL: 'info', ...bad }, timeout: 20_000 });
          expect.fail(`serve should have failed for ${JSON.stringify(bad)}`);
        } catch (e) {
          const err = e as { code: number; stderr: string; stdout: string };
          expect(err.code, JSON.stringify(bad)).to.equal(1);
          expect(err.stderr.trim().split('\n'), `${JSON.stringify(bad)}: ${err.stderr}`).to.have.length(1);
          expect(err.stderr)
            .to.include(name)
            .and.not.match(/\n\s+at /);
          expect(err.stdout, JSON.stringify(bad)).not.to.include('Created the first admin');
          expect(existsSync(fresh), `${JSON.stringify(bad)} created the data folder`).to.equal(false);
        }
      }
    } finally {
      taken.close();
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

  it('refuses invalid facts before anything is written: an unknown role, a bad e-mail, a short password, an unknown key format', async () => {
    const fails = async (args: string[], code: string): Promise<void> => {
      try {
        await run(process.execPath, [MAIN, ...args], { env: env() });
        expect.fail(`${args.join(' ')} should have failed`);
      } catch (e) {
        const err = e as { code: number; stderr: string };
        expect(err.code, err.stderr).to.equal(1);
        expect(err.stderr, args.join(' '))
          .to.include(code)
          .and.not.match(/\n\s+at /);
      }
    };
    await run(process.execPath, [MAIN, 'users', 'create', '--email', 'first@example.com', '--name', 'First', '--admin'], { env: env() });
    await fails(['users', 'create', '--email', 'god@example.com', '--name', 'G', '--role', 'god'], 'INVALID_ROLE');
    await fails(['users', 'create', '--email', 'not an e-mail', '--name', 'G'], 'INVALID_EMAIL');
    await fails(['users', 'create', '--email', 'short@example.com', '--name', 'G', '--password', 'short'], 'WEAK_PASSWORD');
    await fails(['keys', 'create', '--user', 'first@example.com', '--name', 'k', '--format', 'pem'], 'INVALID_FORMAT');
    await fails(['keys', 'create', '--user', 'first@example.com', '--name', 'k', '--scopes', 'not a scope'], 'INVALID_SCOPE');
    const users = (await run(process.execPath, [MAIN, 'users', 'list'], { env: env() })).stdout.trim().split('\n');
    expect(users, 'no account was written by a refused command').to.have.length(1);
    const lifted = JSON.parse((await run(process.execPath, [MAIN, 'users', 'unlock', 'first@example.com'], { env: env() })).stdout) as { lockout: string };
    expect(lifted.lockout).to.equal('lifted');
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
