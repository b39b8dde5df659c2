// Reads the pages of a long catch-up on its own connection, a few pages ahead of the reader, claiming each page before
// reading it: a page the reader has claimed (it read it while waiting for another) is skipped.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import {
  CLAIMS,
  FREE,
  notPage,
  pageAfter,
  STOP,
  TAKEN,
  THREAD,
  type ReadAheadReply,
  type ReadAheadStart,
} from './sqlite-read-ahead-protocol.js';
import { READ_ALL_SQL, toColumns, type RowArray } from './sqlite-rows.js';

function run(port: NonNullable<typeof parentPort>, s: ReadAheadStart): void {
  const ctl = new Int32Array(s.control);
  let read: Database.Statement<[number, number], RowArray> | null = null;
  for (let j = 0; j < s.pages; j++) {
    for (;;) {
      if (Atomics.load(ctl, STOP) !== 0) return;
      const taken = Atomics.load(ctl, TAKEN);
      if (j < taken + s.depth) break;
      Atomics.wait(ctl, TAKEN, taken, 100); // woken when the reader takes a page; the timeout rechecks STOP
    }
    if (Atomics.compareExchange(ctl, CLAIMS + j, FREE, THREAD) !== FREE) continue;
    let reply: ReadAheadReply;
    try {
      if (read === null) {
        const db = new Database(s.file, { readonly: true, fileMustExist: true });
        db.pragma('busy_timeout = 5000');
        read = db.prepare<[number, number], RowArray>(READ_ALL_SQL).raw(true);
      }
      const rows = read.all(pageAfter(s, j), s.pageSize);
      const problem = notPage(s, j, rows);
      reply = problem === null ? { index: j, page: toColumns(rows) } : { index: j, failed: problem };
    } catch (err) {
      // The reader goes back to its own connection, which meets (and reports) the same failure if it lasts.
      reply = { index: j, failed: (err as Error).message };
    }
    if (!('page' in reply)) return port.postMessage(reply);
    // The number columns move to the reader (toColumns made their buffers: never shared).
    port.postMessage(reply, [reply.page.positions.buffer as ArrayBuffer, reply.page.revisions.buffer as ArrayBuffer]);
  }
}

if (parentPort === null) throw new TypeError('sqlite-read-ahead-thread runs as a worker thread');
run(parentPort, workerData as ReadAheadStart);
