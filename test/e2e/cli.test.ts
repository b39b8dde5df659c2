// The CLI as a user runs it: serve starts and stops cleanly on SIGTERM; users, keys and rebuild work on the data folder.
import { expect } from 'chai';
import { spawn, execFile, type ExecFileOptions } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../support/tmp.js';

const MAIN = fileURLToPath(new URL('../../services/cli/main.js', import.meta.url));
const run = promisify(execFile);

describe('e2e: the token-ledger CLI', function () {
  this.timeout(180_000); // each case starts several node processes: minutes on a loaded two-core machine
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir('cli')));
  afterEach(() => dir.cleanup());
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, LEDGER_DATA_DIR: dir.path, LOG_LEVEL: 'silent' });

  /** Runs the CLI to its end, whatever its exit code. */
  const cli = async (
    args: string[],
    opts: ExecFileOptions = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const r = await run(process.execPath, [MAIN, ...args], { env: env(), ...opts });
      return { code: 0, stdout: String(r.stdout), stderr: String(r.stderr) };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };
  /** A failure as the operator sees it: exactly one line, "token-ledger: …", no stack trace. */
  const expectOneLine = (stderr: string, what: string): void => {
    expect(stderr.trimEnd().split('\n'), `${what}: ${stderr}`).to.have.length(1);
    expect(stderr, what)
      .to.match(/^token-ledger: \S/)
      .and.not.match(/\n\s+at /);
  };

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
      // Settings the plugins declare are validated with the core ones, before the admin is created.
      [{ LEDGER_KAFKA_HEARTBEAT_MS: 'abc' }, 'LEDGER_KAFKA_HEARTBEAT_MS'],
      [{ LEDGER_KAFKA_BATCH_MESSAGES: '0' }, 'LEDGER_KAFKA_BATCH_MESSAGES'],
      [{ LEDGER_KAFKA_PARTITIONS: '-1' }, 'LEDGER_KAFKA_PARTITIONS'],
      [{ LEDGER_REVOCATIONS_HEARTBEAT_MS: '1.5' }, 'LEDGER_REVOCATIONS_HEARTBEAT_MS'],
      [{ LEDGER_REVOCATIONS_RETRY_MS: 'later' }, 'LEDGER_REVOCATIONS_RETRY_MS'],
      [{ LEDGER_CLOUDEVENTS_SOURCE: 'not a uri' }, 'LEDGER_CLOUDEVENTS_SOURCE'],
    ];
    try {
      for (const [bad, name] of cases) {
        try {
          await run(process.execPath, [MAIN, 'serve'], {
            env: { ...env(), LEDGER_DATA_DIR: fresh, LOG_LEVEL: 'info', ...bad },
            timeout: 20_000,
          });
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
      (
        await run(
          process.execPath,
          [MAIN, 'users', 'create', '--email', 'cli@example.com', '--name', 'Cli', '--admin'],
          { env: env() },
        )
      ).stdout,
    ) as { id: string; password: string };
    expect(u.password).to.be.a('string');
    await run(
      process.execPath,
      [MAIN, 'users', 'create', '--email', 'ws@example.com', '--name', 'W', '--password', 'long enough password'],
      {
        env: env(),
      },
    ).catch(() => undefined);
    const k = JSON.parse(
      (
        await run(
          process.execPath,
          [MAIN, 'keys', 'create', '--user', 'cli@example.com', '--name', 'deploy', '--expires-in', '1d'],
          { env: env() },
        )
      ).stdout,
    ) as { id: string; token: string };
    expect(k.token).to.match(/^tl_/);
    const list = (await run(process.execPath, [MAIN, 'keys', 'list', '--user', u.id], { env: env() })).stdout;
    expect(list).to.include(k.id).and.include('active');
    await run(process.execPath, [MAIN, 'keys', 'revoke', k.id, '--reason', 'done'], { env: env() });
    expect((await run(process.execPath, [MAIN, 'keys', 'list', '--user', u.id], { env: env() })).stdout).to.include(
      'revoked',
    );
    const rebuilt = await run(process.execPath, [MAIN, 'rebuild'], { env: env() });
    expect(rebuilt.stdout).to.match(/rebuilt from \d+ events: \d+ users, \d+ workspaces, 1 keys/);
    // The registered plugins' rebuild hooks ran: the audit plugin recomputed audit.db.
    expect(rebuilt.stdout).to.match(/^audit trail rebuilt from \d+ events \(chain [0-9a-f]{16}…\)$/m);
    expect(existsSync(join(dir.path, 'audit.db'))).to.equal(true);
    // The rebuilt read model is the data folder's snapshot now: the next start begins from it.
    expect(statSync(join(dir.path, 'read-model.snapshot')).mode & 0o777).to.equal(0o600);
    expect(statSync(join(dir.path, 'revocation-feed.snapshot')).mode & 0o777).to.equal(0o600);
  });

  it('refuses invalid facts before anything is written: an unknown role, a bad e-mail, a short password, an unknown key format', async () => {
    // A value the API's own schemas refuse is a usage error naming the flag (exit 2); a rule only the ledger knows is exit 1 with its code.
    const fails = async (args: string[], exit: 1 | 2, text: string): Promise<void> => {
      try {
        await run(process.execPath, [MAIN, ...args], { env: env() });
        expect.fail(`${args.join(' ')} should have failed`);
      } catch (e) {
        const err = e as { code: number; stderr: string };
        expect(err.code, err.stderr).to.equal(exit);
        expect(err.stderr.trim().split('\n'), err.stderr).to.have.length(1);
        expect(err.stderr, args.join(' '))
          .to.include(text)
          .and.not.match(/\n\s+at /);
      }
    };
    await run(
      process.execPath,
      [MAIN, 'users', 'create', '--email', 'first@example.com', '--name', 'First', '--admin'],
      { env: env() },
    );
    await fails(
      ['users', 'create', '--email', 'god@example.com', '--name', 'G', '--role', 'god'],
      2,
      'users create: --role: role must be one of owner, admin, member, auditor',
    );
    await fails(['users', 'create', '--email', 'not an e-mail', '--name', 'G'], 2, 'users create: --email: ');
    await fails(
      ['users', 'create', '--email', 'short@example.com', '--name', 'G', '--password', 'short'],
      1,
      'token-ledger: weak_password: ',
    );
    await fails(
      ['keys', 'create', '--user', 'first@example.com', '--name', 'k', '--format', 'pem'],
      2,
      'keys create: --format: ',
    );
    await fails(
      ['keys', 'create', '--user', 'first@example.com', '--name', 'k', '--scopes', 'not a scope'],
      1,
      'token-ledger: invalid_scope: ',
    );
    const users = (await run(process.execPath, [MAIN, 'users', 'list'], { env: env() })).stdout.trim().split('\n');
    expect(users, 'no account was written by a refused command').to.have.length(1);
    const lifted = JSON.parse(
      (await run(process.execPath, [MAIN, 'users', 'unlock', 'first@example.com'], { env: env() })).stdout,
    ) as { lockout: string };
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

  it('refuses wrong usage with one line and exit 2, before reading the environment or writing anything', async () => {
    const fresh = join(dir.path, 'fresh');
    const cases: Array<[string[], string]> = [
      [['frobnicate'], 'unknown command "frobnicate"'],
      [['users'], 'users needs a subcommand: create, list, deactivate, reactivate, unlock'],
      [['users', 'frob'], 'unknown command "users frob"'],
      [
        ['users', 'create', '--email', 'a@example.com', '--name', 'A', '--bogus'],
        'users create: unknown option --bogus',
      ],
      [['users', 'create', '--name', 'A'], 'users create: --email is required'],
      [['users', 'list', '--admin'], 'users list: unknown option --admin'],
      [['workspaces', 'create', '--owner', 'a@example.com', '--name'], 'workspaces create: --name needs a value'],
      [['members', 'set', '--workspace', 'w', '--user', 'u'], 'members set: --role is required'],
      [['keys', 'rotate'], 'keys rotate: KEY_ID is required'],
      [['keys', 'revoke', 'key_a', 'key_b'], 'keys revoke: unexpected argument "key_b"'],
      [['serve', '--port', '80'], 'serve: unknown option --port'],
      [['audit', 'verify'], 'audit verify: give --store or one export file'],
    ];
    for (const [args, message] of cases) {
      // An invalid environment too: the usage error is what the operator must fix first.
      const r = await cli(args, { env: { ...env(), LEDGER_DATA_DIR: fresh, PORT: 'eighty' } });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expectOneLine(r.stderr, args.join(' '));
      expect(r.stderr).to.include(`token-ledger: ${message}`);
      expect(existsSync(fresh), `${args.join(' ')} created the data folder`).to.equal(false);
    }
  });

  it('--version prints the package version; help lists every command and the exit codes', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect((await cli(['--version'])).stdout).to.equal(`${pkg.version}\n`);
    const help = await cli(['help']);
    expect(help.code).to.equal(0);
    for (const c of [
      'serve',
      'users create',
      'users list',
      'users deactivate',
      'users reactivate',
      'users unlock',
      'workspaces create',
      'workspaces list',
    ])
      expect(help.stdout).to.include(`  ${c}`);
    for (const c of [
      'members set',
      'members remove',
      'keys create',
      'keys list',
      'keys revoke',
      'keys rotate',
      'rebuild',
      'audit verify',
    ])
      expect(help.stdout).to.include(`  ${c}`);
    expect(help.stdout).to.include('Exit codes: 0 done, 1 failed (one line on stderr), 2 wrong usage');
    const one = await cli(['keys', 'rotate', '--help']);
    expect(one.code).to.equal(0);
    expect(one.stdout).to.include('token-ledger keys rotate KEY_ID [--grace 1h]');
    expect(readdirSync(dir.path), 'help writes nothing').to.deep.equal([]);
  });

  it('audit verify --store and rebuild refuse a folder with no ledger (exit 2) and create nothing', async () => {
    const jwks = join(dir.path, 'jwks.json');
    writeFileSync(jwks, '{"keys":[]}');
    const empty = join(dir.path, 'empty');
    mkdirSync(empty);
    for (const data of [empty, join(dir.path, 'missing')]) {
      for (const args of [
        ['audit', 'verify', '--store'],
        ['audit', 'verify', '--store', '--jwks', jwks],
        ['rebuild'],
      ]) {
        const r = await cli(args, { env: { ...env(), LEDGER_DATA_DIR: data } });
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
        expectOneLine(r.stderr, args.join(' '));
        expect(r.stderr).to.include(`no ledger in ${data}`);
        expect(r.stdout).to.equal('');
      }
    }
    expect(readdirSync(empty)).to.deep.equal([]);
    expect(existsSync(join(dir.path, 'missing'))).to.equal(false);
  });

  it('a store that cannot be opened, or a read-only ledger, is one line and exit 1, never a stack trace', async () => {
    writeFileSync(
      join(dir.path, 'ledger.db'),
      'this is not a SQLite database, it is text written by mistake\n'.repeat(100),
    );
    const garbage = await cli(['users', 'list']);
    expect(garbage.code).to.equal(1);
    expectOneLine(garbage.stderr, 'users list on a foreign file');
    expect(garbage.stderr).to.include('token-ledger: store_unavailable: ');

    // Root ignores file modes: then the CLI runs as an unprivileged user that owns the data folder.
    const nobody = { uid: 65534, gid: 65534 };
    const asRoot = process.getuid?.() === 0;
    const data = join(dir.path, 'ro');
    mkdirSync(data, { mode: 0o700 });
    if (asRoot) {
      chmodSync(dir.path, 0o755);
      chownSync(data, nobody.uid, nobody.gid);
    }
    const as = { env: { ...env(), LEDGER_DATA_DIR: data }, ...(asRoot ? nobody : {}) };
    expect(
      (await cli(['users', 'create', '--email', 'first@example.com', '--name', 'First', '--admin'], as)).code,
    ).to.equal(0);
    const write = ['users', 'create', '--email', 'second@example.com', '--name', 'Second'];
    chmodSync(join(data, 'ledger.db'), 0o444);
    chmodSync(data, 0o555);
    const readOnlyFolder = await cli(write, as);
    expect(readOnlyFolder.code).to.equal(1);
    expectOneLine(readOnlyFolder.stderr, 'a read-only folder');
    expect(readOnlyFolder.stderr).to.include('LEDGER_DATA_DIR');
    chmodSync(data, 0o700);
    const readOnlyFile = await cli(write, as);
    expect(readOnlyFile.code).to.equal(1);
    expectOneLine(readOnlyFile.stderr, 'a read-only ledger.db');
    expect(readOnlyFile.stderr).to.include('token-ledger: store_unavailable: ').and.include('ledger.db');
  });

  it('workspaces, members, rotate, deactivate and reactivate: as the operator, refused by the deciders when invalid', async () => {
    const json = async (args: string[]): Promise<any> => {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      return JSON.parse(r.stdout);
    };
    const fails = async (args: string[], code: string): Promise<void> => {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
      expectOneLine(r.stderr, args.join(' '));
      expect(r.stderr).to.include(`token-ledger: ${code}: `);
    };
    await json(['users', 'create', '--email', 'op@example.com', '--name', 'Op', '--admin']);
    const bob = await json([
      'users',
      'create',
      '--email',
      'bob@example.com',
      '--name',
      'Bob',
      '--password',
      'long enough password',
    ]);
    const ws = await json(['workspaces', 'create', '--name', 'team', '--owner', 'op@example.com']);
    expect(ws).to.deep.include({ name: 'team' });
    const list = (await cli(['workspaces', 'list'])).stdout;
    expect(list).to.match(new RegExp(`^${ws.id}\tteam\top@example.com\t1 members$`, 'm'));
    await fails(['workspaces', 'create', '--name', 'x', '--owner', 'nobody@example.com'], 'not_found');

    // The operator adds without an invitation, by workspace name or id; the deciders refuse what the API refuses.
    expect(
      await json(['members', 'set', '--workspace', 'team', '--user', 'bob@example.com', '--role', 'admin']),
    ).to.deep.include({ role: 'admin' });
    const god = await cli(['members', 'set', '--workspace', ws.id, '--user', bob.id, '--role', 'god']);
    expect([god.code, god.stderr.trim()]).to.deep.equal([
      2,
      'token-ledger: members set: --role: role must be one of owner, admin, member, auditor',
    ]);
    await fails(['members', 'remove', '--workspace', ws.id, '--user', 'op@example.com'], 'last_owner');

    const key = await json(['keys', 'create', '--user', 'bob@example.com', '--workspace', ws.id, '--name', 'deploy']);
    const before = Date.now();
    const rotated = await json(['keys', 'rotate', key.id, '--grace', '1h']);
    expect(rotated.token).to.match(/^tl_/);
    expect(rotated.predecessor.id).to.equal(key.id);
    expect(Date.parse(rotated.predecessor.retiresAt) - before).to.be.within(3_590_000, 3_660_000);
    await fails(['keys', 'rotate', key.id, '--grace', 'soon'], 'invalid');
    await fails(['keys', 'rotate', key.id], 'key_already_rotated');
    const keys = (await cli(['keys', 'list', '--user', bob.id])).stdout;
    expect(keys).to.include(key.id).and.include(rotated.id);

    expect(await json(['members', 'remove', '--workspace', 'team', '--user', 'bob@example.com'])).to.deep.include({
      role: null,
    });
    expect(await json(['users', 'deactivate', 'bob@example.com', '--reason', 'left'])).to.deep.include({
      active: false,
    });
    expect(await json(['users', 'reactivate', bob.id])).to.deep.include({ active: true });
    await fails(['users', 'unlock', 'nobody@example.com'], 'not_found');
  });
});
