// Reads the log's pages ahead of a long catch-up on its own connection, one page per request, so the thread that
// catches up only decodes and applies them.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { READ_ALL_SQL, toColumns, type RowArray, type RowColumns } from './sqlite-rows.js';

export interface ReadAheadStart {
  readonly file: string;
  /** The position the first page follows. */
  readonly after: number;
  /** The last page is the one reaching this position (the head when the read-ahead began), or a short one. */
  readonly until: number;
  readonly pageSize: number;
}

export type ReadAheadReply =
  { readonly page: RowColumns; readonly last: boolean } | { readonly failed: string; readonly code: string | null };

const port = parentPort;
if (port === null) throw new TypeError('sqlite-read-ahead-thread runs as a worker thread');
const start = workerData as ReadAheadStart;
let after = start.after;
let done = false;
let read: Database.Statement<[number, number], RowArray> | null = null;

function nextPage(): ReadAheadReply {
  try {
    if (read === null) {
      const db = new Database(start.file, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      read = db.prepare<[number, number], RowArray>(READ_ALL_SQL).raw(true);
    }
    const rows = read.all(after, start.pageSize);
    const end = rows.length > 0 ? rows[rows.length - 1]![0] : after;
    const last = rows.length < start.pageSize || end >= start.until;
    after = end;
    return { page: toColumns(rows), last };
  } catch (err) {
    // The reader goes back to its own connection, which meets (and reports) the same failure if it lasts.
    const code = (err as { code?: unknown }).code;
    return { failed: (err as Error).message, code: typeof code === 'string' ? code : null };
  }
}

port.on('message', () => {
  if (done) return;
  const reply = nextPage();
  done = 'failed' in reply || reply.last;
  // The number columns move to the reader (toColumns made their buffers: never shared).
  if ('page' in reply)
    port.postMessage(reply, [reply.page.positions.buffer as ArrayBuffer, reply.page.revisions.buffer as ArrayBuffer]);
  else port.postMessage(reply);
});
