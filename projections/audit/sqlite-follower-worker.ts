// The audit writer process on SQLite (see sqlite-follower.ts): reads the log after audit.db's checkpoint and applies it
// in transactions of up to BATCH events; sleeps until woken by a commit of the server, or a poll for other writers.
import Database from 'better-sqlite3';
import { arrayToRecorded, READ_ALL_SQL, type RowArray } from '../../events/store/sqlite.js';
import { translateSqlite } from '../../events/store/sqlite-appender.js';
import { AuditDb } from './audit-db.js';
import { FollowerChannel } from './follower-channel.js';
import type { FollowerConfig } from './sqlite-follower.js';
import { auditExtensions } from './timeline.js';

/** Events per transaction: large ones write far less (each commit rewrites every index page it touched). */
const BATCH = 5_000;
/** Without a wake-up, look at the log this often (another process may append to it). */
const POLL_MS = 250;

const channel = new FollowerChannel<FollowerConfig>('sqlite-follower-worker');
const config = channel.config;

async function run(): Promise<void> {
  const extensions = auditExtensions.filter((x) => config.extensions.includes(x.name));
  if (extensions.length !== config.extensions.length) throw new TypeError('unknown audit extension');
  const audit = new AuditDb(config.auditFile, extensions, { writer: true });
  const log = new Database(config.logFile, { readonly: true, fileMustExist: true });
  try {
    log.pragma('busy_timeout = 5000');
    const read = log.prepare<[number, number], RowArray>(READ_ALL_SQL).raw(true);
    let caughtUp = false;
    const head = log.prepare<[], number | null>('SELECT max(position) FROM events').pluck();
    // Far behind (a first build, a long outage): rows first, then each deferred index by one sort; positions are
    // reported only once the indexes exist again, so no query runs without them.
    let deferred = (head.get() ?? -1) - audit.checkpoint.position >= config.deferIndexesBehind;
    if (deferred) audit.deferIndexes();
    while (!channel.closed) {
      const rows = read.all(audit.checkpoint.position, BATCH);
      if (rows.length > 0) audit.applyBatch(rows.map(arrayToRecorded));
      let moved = rows.length > 0;
      if (deferred && rows.length < BATCH) {
        audit.restoreIndexes();
        deferred = false;
        moved = true;
      }
      if (moved && !deferred) channel.post({ kind: 'position', position: audit.checkpoint.position });
      if (rows.length === BATCH) {
        await new Promise((resolve) => setImmediate(resolve)); // lets a close in
        continue;
      }
      if (!caughtUp) channel.post({ kind: 'caughtUp' });
      caughtUp = true;
      await channel.sleep(POLL_MS);
    }
  } finally {
    log.close();
    audit.close();
  }
}

run()
  .catch((err: unknown) => channel.fail(translateSqlite(err, 'audit write')))
  .finally(() => channel.end());
