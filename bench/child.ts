// A benchmark's child process: spawned, ready once it prints "listening on <url>", measured by its RSS, stopped by SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Child {
  proc: ChildProcess;
  url: string;
  rss(): number;
  stop(): Promise<void>;
}

/** Resident set size of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Spawns a node process and resolves once it prints "listening on <url>". */
export function spawnListening(args: string[], env: NodeJS.ProcessEnv): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString('utf8');
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      proc.stdout.off('data', onData);
      proc.stdout.resume();
      resolve({
        proc,
        url: m[1]!,
        rss: () => rssOf(proc.pid!),
        stop: () =>
          new Promise<void>((done) => {
            if (proc.exitCode !== null) return done();
            proc.once('exit', () => done());
            proc.kill('SIGTERM');
          }),
      });
    };
    proc.stdout.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`child exited with ${code} before listening: ${out.slice(-500)}`)));
  });
}
