// The SQLite audit writer process. A long catch-up builds its secondary indexes after the rows: the result is the same
// file a row-by-row build makes (rows, chain, indexes), no position is reported while an index is missing, and a writer
// stopped mid-way leaves a file whose next open has every index again. A writer that dies is reported (killed: as retriable); a server that
// dies (kill -9) takes its writer with it.
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../support/async.js';
import { autogroupNiceOf, childrenRunning, niceOf, running } from '../support/processes.js';
import { AuditDb } from '../../projections/audit/audit-db.js';
import { LOWEST_PRIORITY } from '../../projections/niced-child.js';
import { followInProcess, type LogFile } from '../../projections/audit/sqlite-follower.js';
import { auditExtensions } from '../../projections/audit/timeline.js';
import { SYSTEM } from '../../services/ledger.js';
import { makeLedger, seedOwner, type TestLedger } from '../support/ledger.js';

const names = auditExtensions.map((x) => x.name);
const PARENT = fileURLToPath(new URL('../support/children/audit-follower-parent.js', import.meta.url));

/** Pids of the running audit writer processes whose parent is `ppid`. */
const writersOf = (ppid: number): number[] => childrenRunning(ppid, 'sqlite-follower-worker');

/** Index names of a SQLite file, sorted. */
function indexes(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name").pluck().all();
  } finally {
    db.close();
  }
}

function rows(file: string, table = 'audit_events', order = 'position'): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all();
  } finally {
    db.close();
  }
}

describe('integration: audit catch-up with deferred indexes', function () {
  this.timeout(60_000);
  let t: TestLedger;
  let log: LogFile;
  before(async () => {
    t = await makeLedger();
    const owner = await seedOwner(t.ledger);
    for (let i = 0; i < 60; i++) {
      const k = await t.ledger.keys.create(
        { userId: owner.userId, workspaceId: owner.workspaceId, name: `k${i}` },
        SYSTEM,
      );
      t.ledger.verifyAndRecord(k.token, 'bearer', { ip: '10.0.0.1', userAgent: 'test' });
      if (i % 4 === 0) await t.ledger.keys.revoke(k.key.id, 'test', SYSTEM);
    }
    await t.ledger.usage.flush();
    log = { file: join(t.dir, 'ledger.db'), watch: () => () => undefined };
  });
  after(async () => t?.dispose());

  /** Follows the log into `file` until caught up; records the indexes present at every reported position. */
  async function follow(file: string, behind: number): Promise<{ seen: string[][]; positions: number[] }> {
    const seen: string[][] = [];
    const positions: number[] = [];
    const sub = followInProcess(
      file,
      names,
      log,
      (p) => {
        positions.push(p);
        seen.push(indexes(file));
      },
      (err) => {
        throw err;
      },
      behind,
    );
    await sub.caughtUp;
    await sub.close();
    return { seen, positions };
  }

  it('gives the same rows and indexes as a row-by-row build, reporting positions only with every index present', async () => {
    const head = await t.ledger.store.headPosition();
    const byRow = join(t.dir, 'by-row.db');
    const deferred = join(t.dir, 'deferred.db');
    const a = await follow(byRow, Number.MAX_SAFE_INTEGER);
    const b = await follow(deferred, 10);
    expect(a.positions.at(-1)).to.equal(head);
    expect(b.positions).to.deep.equal([head]); // one report, after the indexes were built
    expect(b.seen[0]).to.deep.equal(indexes(byRow));
    expect(indexes(deferred)).to.include.members([
      'audit_by_actor',
      'audit_by_digest',
      'audit_by_hw',
      'audit_by_key',
      'audit_keys_valid',
      'audit_keys_by_pred',
    ]);
    expect(rows(deferred)).to.deep.equal(rows(byRow));
    // The timelines too: their query-only indexes are deferred with the rest.
    expect(rows(deferred, 'audit_keys', 'key_id'))
      .to.deep.equal(rows(byRow, 'audit_keys', 'key_id'))
      .and.have.length(60);
    expect(rows(deferred, 'audit_membership', 'rowid')).to.deep.equal(rows(byRow, 'audit_membership', 'rowid'));
  });

  it('a file left without its deferred indexes (a writer stopped mid-way) has them again at the next open', async () => {
    const file = join(t.dir, 'interrupted.db');
    await follow(file, Number.MAX_SAFE_INTEGER);
    const all = indexes(file);
    const db = new AuditDb(file, auditExtensions);
    db.deferIndexes();
    db.close();
    for (const name of ['audit_by_actor', 'audit_keys_valid', 'audit_keys_by_pred'])
      expect(indexes(file), name).to.not.include(name);
    new AuditDb(file, auditExtensions).close();
    expect(indexes(file)).to.deep.equal(all);
  });

  it('runs niced, its autogroup too; a writer that dies is reported as a failure; one whose server is killed with -9 exits', async () => {
    const errors: unknown[] = [];
    const sub = followInProcess(
      join(t.dir, 'killed.db'),
      names,
      log,
      () => undefined,
      (err) => errors.push(err),
    );
    await sub.caughtUp;
    const [pid] = writersOf(process.pid);
    expect(pid, 'the writer process').to.be.a('number');
    expect(niceOf(pid!)).to.equal(LOWEST_PRIORITY).and.be.greaterThan(0);
    // Its session is its own autogroup, weighed against the server's as an equal unless the group is niced too.
    if (autogroupNiceOf(process.pid) !== null)
      await waitUntil(() => autogroupNiceOf(pid!) === LOWEST_PRIORITY, 5000, "the writer's autogroup niced");
    process.kill(pid!, 'SIGKILL');
    await waitUntil(() => errors.length > 0, 10_000, 'the failure to be reported');
    expect(String(errors[0])).to.include('audit writer process exited (SIGKILL)');
    expect(errors[0], 'killed: a new writer may resume').to.have.property('retriable', true);
    await sub.close();

    const parent = spawn(process.execPath, [PARENT, log.file, join(t.dir, 'orphan.db')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        parent.stdout.on('data', (d: Buffer) => (d.toString().includes('ready') ? resolve() : undefined));
        parent.once('exit', (code) => reject(new Error(`parent exited ${code}`)));
      });
      const [writer] = writersOf(parent.pid!);
      expect(writer, 'the writer process').to.be.a('number');
      parent.kill('SIGKILL');
      await waitUntil(() => !running(writer!), 10_000, 'the orphaned writer to exit');
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
