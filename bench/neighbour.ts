// A busy neighbour, the baseline for latency under load: a node process at nice 19 that only allocates and hashes (no
// database, no disk), as any busy process beside the server would. What it costs the request loop is what sharing
// these cores costs, whatever the neighbour does.
import { spawn } from 'node:child_process';
import { nicedNode } from '../projections/niced-child.js';

const BUSY = `const { hash } = require('node:crypto');
let keep = [];
for (;;) {
  const b = Buffer.alloc(1024, keep.length & 0xff);
  keep.push({ b, h: hash('sha256', b) });
  if (keep.length > 5000) keep = [];
}`;

/** Runs `fn` while the neighbour runs; the neighbour is killed when `fn` settles. */
export async function besideNeighbour<T>(fn: () => Promise<T>): Promise<T> {
  const [cmd, args] = nicedNode(['-e', BUSY]);
  const child = spawn(cmd, args, { stdio: 'ignore' });
  try {
    await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    await new Promise((resolve) => setTimeout(resolve, 300)); // node's own start, before the loop runs
    return await fn();
  } finally {
    child.kill('SIGKILL');
  }
}
