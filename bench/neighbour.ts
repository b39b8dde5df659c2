// Busy neighbours, the baselines for latency under load. A node process at nice 19 that only allocates and hashes (no
// database, no disk), as any busy process beside the server would: what it costs the request loop is what sharing
// these cores costs, whatever the neighbour does. And one that only writes a file at a given rate, fsyncing every
// 16 MiB, started as a writer process is (own session, its autogroup niced): what that much disk writing costs.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { nicedNode } from '../projections/niced-child.js';

const BUSY = `const { hash } = require('node:crypto');
let keep = [];
for (;;) {
  const b = Buffer.alloc(1024, keep.length & 0xff);
  keep.push({ b, h: hash('sha256', b) });
  if (keep.length > 5000) keep = [];
}`;

/** Writes 1 MiB chunks to process.argv[1] at process.argv[2] bytes/s, fsyncing every 16 MiB, until killed. */
const DISK = `const fs = require('node:fs');
try { fs.writeFileSync('/proc/self/autogroup', '19'); } catch {}
const [file, rate] = [process.argv[1], Number(process.argv[2])];
const chunk = Buffer.alloc(2 ** 20, 0x5a);
const fd = fs.openSync(file, 'w', 0o600);
const t0 = performance.now();
let written = 0;
const step = () => {
  while (written < ((performance.now() - t0) / 1000) * rate) {
    fs.writeSync(fd, chunk);
    written += chunk.length;
    if (written % (16 * 2 ** 20) === 0) fs.fsyncSync(fd);
  }
  setTimeout(step, 5);
};
step();`;

/** Runs `fn` while the neighbour runs; the neighbour is killed when `fn` settles. */
export function besideNeighbour<T>(fn: () => Promise<T>): Promise<T> {
  return beside(nicedNode(['-e', BUSY]), false, fn);
}

/** Runs `fn` while a writer process writes `file` at `bytesPerSecond`; the file is removed after. */
export async function besideDiskWriter<T>(file: string, bytesPerSecond: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await beside(nicedNode(['-e', DISK, file, String(Math.round(bytesPerSecond))]), true, fn);
  } finally {
    rmSync(file, { force: true });
  }
}

async function beside<T>([cmd, args]: [string, string[]], ownSession: boolean, fn: () => Promise<T>): Promise<T> {
  const child = spawn(cmd, args, { stdio: 'ignore', detached: ownSession });
  try {
    await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    await new Promise((resolve) => setTimeout(resolve, 300)); // node's own start, before the loop runs
    return await fn();
  } finally {
    child.kill('SIGKILL');
  }
}
