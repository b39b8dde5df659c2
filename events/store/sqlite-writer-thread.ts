// The SQLite log's writer thread: commits each group of appends the store hands it and answers once the group is
// durable, so the fsync of synchronous=FULL never blocks the request loop.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteAppender, type CommitOutcome } from './sqlite-appender.js';
import type { PlannedAppend } from './append-plan.js';

export interface WriterRequest {
  readonly id: number;
  readonly batch: readonly PlannedAppend[];
}

export type WriterReply =
  | { readonly id: number; readonly outcomes: CommitOutcome[] }
  | { readonly id: number; readonly failed: { readonly message: string; readonly code: string | null } };

const port = parentPort;
if (port === null) throw new TypeError('sqlite-writer-thread runs as a worker thread');
const db = new Database((workerData as { file: string }).file);
db.pragma('synchronous = FULL'); // per connection: every commit of this one is durable before it is acknowledged
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -16384'); // 16 MiB: the stream index's pages stay cached between groups
const appender = new SqliteAppender(db);

port.on('message', (m: WriterRequest | 'close') => {
  if (m === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: WriterReply;
  try {
    reply = { id: m.id, outcomes: appender.commit(m.batch) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    reply = { id: m.id, failed: { message: (err as Error).message, code: typeof code === 'string' ? code : null } };
  }
  port.postMessage(reply);
});
