// The SQLite log's writer thread: runs each group of appends the store hands it (SqliteAppender.commit) and answers
// the outcomes once the transaction is durable, so the fsync of synchronous=FULL never blocks the request loop.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteAppender, type AppendOutcome, type AppendRequest } from './sqlite-appender.js';

export interface WriterRequest {
  readonly id: number;
  readonly batch: readonly AppendRequest[];
}

export type WriterReply =
  | { readonly id: number; readonly outcomes: AppendOutcome[] }
  | { readonly id: number; readonly failed: { readonly message: string; readonly code: string | null } };

const port = parentPort;
if (port === null) throw new TypeError('sqlite-writer-thread runs as a worker thread');
const db = new Database((workerData as { file: string }).file);
db.pragma('synchronous = FULL'); // per connection: every commit of this one is durable before it is acknowledged
db.pragma('busy_timeout = 5000');
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
