// SIGTERM always ends `serve` within LEDGER_SHUTDOWN_TIMEOUT_MS plus a small margin: started and stopped many times in a
// row, with nobody reading its stdout, or with a close() that hangs; and closing leaves nothing open behind it.
import { expect } from 'chai';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHUTDOWN_MARGIN_MS } from '../../services/cli/commands/serve.js';
import type { PluginFactory } from '../../services/server.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';

const MAIN = fileURLToPath(new URL('../../services/cli/main.js', import.meta.url));
const START = fileURLToPath(new URL('../../../scripts/start.mjs', import.meta.url));
const HANGING = fileURLToPath(new URL('../support/children/hanging-shutdown.js', import.meta.url));
const IDLE = fileURLToPath(new URL('../support/children/close-and-idle.js', import.meta.url));
const TIMEOUT_MS = 2000;
/** The promise, plus what a loaded machine may add to starting a timer and reaping a child. */
const DEADLINE_MS = TIMEOUT_MS + SHUTDOWN_MARGIN_MS + 1500;

interface Child {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function launch(args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { proc, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves once stdout holds `text`; fails if the child exits first or takes longer than `ms`. */
async function waitFor(child: Child, text: string, ms = 20_000): Promise<void> {
  if (child.stdout().includes(text)) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${text}" within ${ms} ms: ${child.stdout()} ${child.stderr()}`)),
      ms,
    );
    const onData = (): void => {
      if (!child.stdout().includes(text)) return;
      clearTimeout(timer);
      child.proc.stdout.off('data', onData);
      resolve();
    };
    child.proc.stdout.on('data', onData);
    void child.exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`exited (${e.code ?? e.signal}) before "${text}": ${child.stderr()}`));
    });
  });
}

/** Sends SIGTERM and returns how the child ended and how long it took, or 'hung' after the deadline. */
async function terminate(child: Child): Promise<{ code: number | null; ms: number } | 'hung'> {
  const sent = Date.now();
  child.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), DEADLINE_MS)));
  const r = await Promise.race([child.exited, hung]);
  clearTimeout(timer);
  return r === 'hung' ? r : { code: r.code, ms: r.at - sent };
}

describe('e2e: shutdown always ends the process', function () {
  this.timeout(240_000); // twenty starts of the real server: about 6 s each on a loaded two-core machine
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  const children: Child[] = [];
  const serveEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const dir = tempDir('shutdown');
    dirs.push(dir);
    return {
      ...process.env,
      LEDGER_DATA_DIR: dir.path,
      PORT: '0',
      LOG_LEVEL: 'info',
      LEDGER_SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS),
      ...extra,
    };
  };
  afterEach(() => {
    for (const c of children.splice(0)) c.proc.kill('SIGKILL');
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it('starts and stops the real server 20 times in a row: each exits 0 within the deadline', async () => {
    for (let i = 0; i < 20; i++) {
      const child = launch([MAIN, 'serve'], serveEnv());
      children.push(child);
      await waitFor(child, 'listening on');
      // A keep-alive connection left open, as a client leaves it.
      const url = /listening on (http:\/\/\S+)/.exec(child.stdout())![1]!;
      expect((await fetch(`${url}/healthz`)).status, `run ${i}`).to.equal(200);
      const r = await terminate(child);
      expect(r, `run ${i}: ${child.stderr()}`).to.not.equal('hung');
      expect(r, `run ${i}: ${child.stderr()}`).to.deep.include({ code: 0 });
      expect((r as { ms: number }).ms, `run ${i}`).to.be.below(DEADLINE_MS);
    }
  });

  it("`npm start`'s script (build when stale, then serve in the same process) serves and stops the same way", async () => {
    const child = launch([START], serveEnv());
    children.push(child);
    await waitFor(child, 'listening on');
    const url = /listening on (http:\/\/\S+)/.exec(child.stdout())![1]!;
    expect((await fetch(`${url}/readyz`)).status).to.equal(200);
    const r = await terminate(child);
    expect(r, child.stderr()).to.deep.include({ code: 0 });
  });

  it('exits 0 in time even when nobody reads its stdout (a full pipe must not hold the exit)', async () => {
    const child = launch([MAIN, 'serve'], serveEnv());
    children.push(child);
    await waitFor(child, 'listening on');
    const url = /listening on (http:\/\/\S+)/.exec(child.stdout())![1]!;
    // Stop reading, then make the server log far more than the pipe holds (each access log line carries the URL).
    child.proc.stdout.pause();
    const long = 'x'.repeat(6000);
    for (let i = 0; i < 200; i++) await (await fetch(`${url}/healthz?pad=${long}`)).arrayBuffer();
    const r = await terminate(child);
    expect(r, child.stderr()).to.not.equal('hung');
    expect(r).to.deep.include({ code: 0 });
    expect(child.stderr()).to.include('stdout is not being read');
  });

  it('a close() that never finishes is ended by the watchdog: exit 1, naming the step and what is still open', async () => {
    const child = launch([HANGING, String(TIMEOUT_MS)], { ...process.env });
    children.push(child);
    await waitFor(child, 'ready');
    const r = await terminate(child);
    expect(r, child.stderr()).to.not.equal('hung');
    expect(r).to.deep.include({ code: 1 });
    expect((r as { ms: number }).ms).to.be.at.least(TIMEOUT_MS);
    const warning = child
      .stdout()
      .split('\n')
      .find((l) => l.includes('overran'));
    expect(warning, child.stdout()).to.be.a('string');
    const entry = JSON.parse(warning!) as { step: string; open: string[] };
    expect(entry.step).to.equal('stopping the stuck plugin');
    expect(entry.open).to.include('Timeout');
  });

  it('closing the server in-process leaves nothing that keeps the process alive (sockets, timers, streams)', async () => {
    const child = launch([IDLE], { ...process.env });
    children.push(child);
    await waitFor(child, 'closed');
    const r = await Promise.race([
      child.exited,
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref()),
    ]);
    expect(r, child.stdout() + child.stderr()).to.not.equal('hung');
    expect((r as { code: number }).code, child.stdout() + child.stderr()).to.equal(0);
  });

  it('a plugin whose stop fails still lets the ledger flush and the store close; close() reports the failure', async () => {
    const failing: PluginFactory = () => ({ name: 'failing', stop: () => Promise.reject(new Error('stop failed')) });
    const dir = tempDir('close');
    dirs.push(dir);
    const s = await startTestServer({}, [failing], dir);
    expect(existsSync(join(s.dataDir, 'ledger.db-wal'))).to.equal(true);
    const error = await s.running.close().then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(error?.message).to.equal('stop failed');
    expect(s.running.closingStep).to.equal('unlocking the data folder');
    // SQLite removes the write-ahead log when the last connection closes.
    expect(existsSync(join(s.dataDir, 'ledger.db-wal'))).to.equal(false);
  });

  it('plugin starts run together with the restore; one that fails fails the start once the others settle, leaving nothing open', async () => {
    let began!: () => void;
    const failingBegan = new Promise<void>((resolve) => (began = resolve));
    let waitingDone = false;
    // Started one after the other, this start would wait forever for the next one's.
    const waiting: PluginFactory = () => ({
      name: 'waiting',
      start: async () => {
        await failingBegan;
        await new Promise((resolve) => setImmediate(resolve));
        waitingDone = true;
      },
    });
    const failing: PluginFactory = () => ({
      name: 'failing',
      // Throws at once, before returning a promise.
      start: () => {
        began();
        throw new Error('start failed');
      },
    });
    const dir = tempDir('start-fails');
    dirs.push(dir);
    const error = await startTestServer({}, [waiting, failing], dir).then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(error?.message).to.equal('start failed');
    expect(waitingDone, 'the other start settled first').to.equal(true);
    expect(existsSync(join(dir.path, 'ledger.db-wal')), 'the store closed').to.equal(false);
    // The folder was unlocked: a server starts on it at once.
    const again = await startTestServer({}, [], dir);
    await again.running.close();
  });
});
