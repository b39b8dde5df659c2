// Read-model snapshots: written by a child process (0600, atomically), loaded with the log after them, and ignored with a
// warning when corrupt, of another version, or taken from another log.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM, type Ledger } from '../../services/ledger.js';
import { loadSnapshot, placeIn, type SnapshotWarning } from '../../services/snapshots/load-snapshot.js';
import { feedSnapshotFile, readSnapshot, snapshotFile, writeSnapshot } from '../../services/snapshots/snapshot-file.js';
import { SNAPSHOT_JOB_ENV } from '../../services/snapshots/snapshot-job.js';
import { MAX_TAIL_EVERIES, Snapshotter } from '../../services/snapshots/snapshotter.js';
import { ReadSide } from '../../services/commands/read-side.js';
import { rejectsWith, waitUntil } from '../support/async.js';
import { makeLedger, seedOwner, type TestLedger } from '../support/ledger.js';
import { freshDatabase } from '../support/postgres.js';
import { PostgresEventStore } from '../../events/store/postgres.js';

async function someHistory(l: Ledger, n: number): Promise<string[]> {
  const u = await seedOwner(l, `u${n}-${l.read.userCount}@example.com`);
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = await l.keys.create(
      { userId: u.userId, workspaceId: u.workspaceId, name: `k${i}`, expiresInSeconds: i % 2 ? 3600 : null },
      SYSTEM,
    );
    tokens.push(k.token);
    if (i % 3 === 0) await l.keys.revoke(k.key.id, 'test', SYSTEM);
  }
  return tokens;
}

function snapshotter(
  t: TestLedger,
  file: string,
  warn: SnapshotWarning = () => undefined,
  databaseUrl: string | null = null,
  dataDir = t.dir,
  periodic: { every: number; now: () => number; written: () => void } | null = null,
): Snapshotter {
  return new Snapshotter({
    job: { store: { dataDir, eventStoreUrl: null, databaseUrl }, file, feedFile: feedSnapshotFile(t.dir) },
    every: periodic?.every ?? 0,
    position: () => t.ledger.read.position,
    loadedAt: -1,
    warn,
    written: periodic?.written ?? (() => undefined),
    failed: () => undefined,
    ...(periodic ? { now: periodic.now } : {}),
  });
}

/** A snapshotter on a clock of the test's whose first snapshot took `jobMs` by it: the rest after it is 9 × jobMs. */
async function afterFirstSnapshot(
  t: TestLedger,
  file: string,
  every: number,
  jobMs: number,
): Promise<{ s: Snapshotter; clock: { now: number }; written: () => number }> {
  await someHistory(t.ledger, 2);
  const clock = { now: 0 };
  let written = 0;
  const periodic = { every, now: () => clock.now, written: () => void written++ };
  const s = snapshotter(t, file, () => undefined, null, t.dir, periodic);
  const first = s.snapshotNow();
  clock.now = jobMs;
  await first;
  return { s, clock, written: () => written };
}

/** Runs test/support/snapshot-helper.js: a stand-in server that starts a snapshot of `dir`. */
function runHelper(dir: string, mode: 'stay' | 'orphan'): Promise<{ signal: string | null; out: string }> {
  const script = fileURLToPath(new URL('../support/snapshot-helper.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [script, dir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.once('error', reject);
    c.once('exit', (_code, signal) => resolve({ signal, out }));
  });
}

/** Pids of snapshot processes whose job names `dir` (the job travels in their environment). */
function snapshotProcessesOf(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'utf8');
      if (env.includes(`${SNAPSHOT_JOB_ENV}=`) && env.includes(dir)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

describe('read-model snapshots', function () {
  this.timeout(30_000);
  let t: TestLedger;
  let file: string;
  const warnings: Array<{ reason: string; detail: string }> = [];
  const warn: SnapshotWarning = (_msg, d) => void warnings.push(d);

  beforeEach(async () => {
    t = await makeLedger();
    file = snapshotFile(t.dir);
    warnings.length = 0;
  });
  afterEach(async () => t?.dispose());

  it('the snapshot process writes a 0600 snapshot; a new ledger starts from it and the log after it', async () => {
    await someHistory(t.ledger, 12);
    const done = await snapshotter(t, file).snapshotNow();
    expect(done.position).to.equal(await t.ledger.store.headPosition());
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const tokens = await someHistory(t.ledger, 5); // the tail
    const head = await t.ledger.store.headPosition();

    const model = await loadSnapshot(t.ledger.store, file, warn);
    expect(warnings).to.deep.equal([]);
    expect(model!.position).to.equal(done.position);
    const fromSnap = await t.reopen({}, model!);
    expect(fromSnap.read.position).to.equal(head);
    expect(fromSnap.read.snapshot()).to.deep.equal(t.ledger.read.snapshot());
    expect(fromSnap.read.image()).to.deep.equal(t.ledger.read.image());
    for (const tok of tokens) expect(fromSnap.verify(tok).code).to.equal(t.ledger.verify(tok).code);
    // The snapshot's keys are known to the expiry scheduler as if it had seen their events.
    expect(fromSnap.expiry.pending).to.be.greaterThan(0);
    t.clock.advance(7200);
    await fromSnap.expiry.runDue();
    const expired = [...fromSnap.read.allKeys()].filter((k) => k.status === 1).length;
    expect(expired).to.be.greaterThan(0);
  });

  it('an observer registered before a restore sees the events after it, and its unsubscribe still stops it', async () => {
    await someHistory(t.ledger, 3);
    await snapshotter(t, file).snapshotNow();
    const model = await loadSnapshot(t.ledger.store, file, warn);
    const read = new ReadSide(t.ledger.store, () => undefined);
    const seen: string[] = [];
    const off = read.onApplied((e) => void seen.push(e.type));
    await read.start(model!); // the restored model replaces the one the observer was registered on
    try {
      await someHistory(t.ledger, 1);
      await read.waitFor(await t.ledger.store.headPosition());
      expect(seen).to.include('ApiKeyCreated');
      off();
      const before = seen.length;
      await someHistory(t.ledger, 1);
      await read.waitFor(await t.ledger.store.headPosition());
      expect(seen).to.have.length(before);
    } finally {
      await read.stop();
    }
  });

  it('a second snapshot starts from the first and moves it forward', async () => {
    await someHistory(t.ledger, 4);
    const s = snapshotter(t, file);
    const first = await s.snapshotNow();
    await someHistory(t.ledger, 3);
    const second = await s.snapshotNow();
    expect(second.from).to.equal(first.position);
    expect(second.position).to.equal(await t.ledger.store.headPosition());
    const again = await s.snapshotNow();
    expect([again.from, again.position, again.bytes]).to.deep.equal([second.position, second.position, 0]);
  });

  it('the timer starts the next snapshot only after the rest that keeps snapshots to a tenth of wall time', async () => {
    const every = 3;
    const { s, clock, written } = await afterFirstSnapshot(t, file, every, 1_000); // the next may start 9 s after it
    await someHistory(t.ledger, 1);
    const tail = (await t.ledger.store.headPosition()) - s.lastPosition;
    expect(tail).to.be.within(every, MAX_TAIL_EVERIES * every - 1); // enough events, not so many that the rest is cut
    clock.now = 9_999;
    s.tick();
    expect(s.writing).to.equal(false);
    clock.now = 10_000;
    s.tick();
    expect(s.writing).to.equal(true);
    await waitUntil(() => written() === 2, 20_000, 'the second snapshot');
    expect(s.lastPosition).to.equal(await t.ledger.store.headPosition());
    await s.stop();
  });

  it('a tail of four times every cuts the rest short', async () => {
    const every = 3;
    const { s, written } = await afterFirstSnapshot(t, file, every, 1_000_000); // a rest of 9,000 s
    // Each tick during the rest starts nothing until the tail reaches MAX_TAIL_EVERIES times every.
    for (;;) {
      await someHistory(t.ledger, 1);
      const tail = (await t.ledger.store.headPosition()) - s.lastPosition;
      s.tick();
      if (tail >= MAX_TAIL_EVERIES * every) break;
      expect(s.writing).to.equal(false);
    }
    expect(s.writing).to.equal(true);
    await waitUntil(() => written() === 2, 20_000, 'the snapshot the tail forced');
    expect(s.lastPosition).to.equal(await t.ledger.store.headPosition());
    await s.stop();
  });

  it('a snapshot process that cannot open the store fails with STORE_UNAVAILABLE naming why; nothing is written', async () => {
    await someHistory(t.ledger, 2);
    // A data folder below a file cannot be opened.
    const s = snapshotter(t, file, warn, null, join(file, 'below-a-file'));
    writeFileSync(file, 'not a folder');
    const err = await rejectsWith(s.snapshotNow(), 'STORE_UNAVAILABLE');
    expect(err.message).to.match(/snapshot process exited \(1\) without writing: cannot open the ledger/);
    expect(readFileSync(file, 'utf8')).to.equal('not a folder');
    expect(s.lastPosition).to.equal(-1);
  });

  it('stop() ends a snapshot being written: its process is killed and nothing is written', async () => {
    await someHistory(t.ledger, 4);
    const s = snapshotter(t, file);
    const running = s.snapshotNow();
    await s.stop();
    const err = await rejectsWith(running, 'STORE_UNAVAILABLE');
    expect(err.message).to.include('(SIGKILL)');
    expect(existsSync(file)).to.equal(false);
  });

  it('a snapshot process whose server is killed with kill -9 exits without writing; one whose server lives writes', async () => {
    await someHistory(t.ledger, 6);
    const orphan = await runHelper(t.dir, 'orphan');
    expect(orphan.signal).to.equal('SIGKILL');
    await waitUntil(() => snapshotProcessesOf(t.dir).length === 0, 10_000, 'the orphaned snapshot process to exit');
    expect(existsSync(file)).to.equal(false);
    // The control: the same helper, left alive, gets its snapshot.
    const stay = await runHelper(t.dir, 'stay');
    expect(stay.out).to.equal(`written ${await t.ledger.store.headPosition()}\n`);
    expect(existsSync(file)).to.equal(true);
  });

  describe('ignored with a warning, so the log is replayed', () => {
    let body: Buffer;
    beforeEach(async () => {
      await someHistory(t.ledger, 5);
      await snapshotter(t, file).snapshotNow();
      body = readFileSync(file);
    });

    const expectIgnored = async (reason: string): Promise<void> => {
      expect(await loadSnapshot(t.ledger.store, file, warn)).to.equal(null);
      expect(warnings.map((w) => w.reason)).to.deep.equal([reason]);
    };

    it('a corrupt one: a flipped byte, a truncated file, not JSON at all', async () => {
      const flipped = Buffer.from(body);
      flipped[flipped.length - 10]! ^= 1;
      writeFileSync(file, flipped);
      await expectIgnored('corrupt');
      warnings.length = 0;
      writeFileSync(file, body.subarray(0, body.length - 100));
      await expectIgnored('corrupt');
      warnings.length = 0;
      writeFileSync(file, 'garbage');
      await expectIgnored('corrupt');
    });

    it('one of another version', async () => {
      const nl = body.indexOf(10);
      const header = JSON.parse(body.subarray(0, nl).toString()) as Record<string, unknown>;
      writeFileSync(file, Buffer.concat([Buffer.from(JSON.stringify({ ...header, version: 0 })), body.subarray(nl)]));
      await expectIgnored('stale_version');
    });

    it('one beyond the head of the store', async () => {
      const found = readSnapshot(file)!;
      const head = await t.ledger.store.headPosition();
      writeSnapshot(file, { ...found.header, position: head + 5 }, { ...found.image, position: head + 5 });
      await expectIgnored('foreign');
    });

    it('one whose event at its position is another (a different history)', async () => {
      const found = readSnapshot(file)!;
      writeSnapshot(file, { ...found.header, eventId: '00000000-0000-4000-a000-000000000000' }, found.image);
      await expectIgnored('foreign');
    });

    it('one taken from another ledger', async () => {
      const other = await makeLedger();
      try {
        await someHistory(other.ledger, 5);
        const place = await placeIn(other.ledger.store, await other.ledger.store.headPosition());
        const found = readSnapshot(file)!;
        writeSnapshot(file, place!, { ...found.image, position: place!.position });
        await expectIgnored('foreign');
      } finally {
        await other.dispose();
      }
    });
  });
});

describe('read-model snapshots on PostgreSQL', function () {
  this.timeout(60_000);

  it('the snapshot process snapshots the shared store into the instance data folder; the image equals the live model', async () => {
    const db = await freshDatabase('snapshot');
    const t = await makeLedger({ store: await PostgresEventStore.open(db.url, { pollIntervalMs: 50 }) });
    try {
      await someHistory(t.ledger, 6);
      const file = snapshotFile(t.dir);
      const done = await snapshotter(t, file, undefined, db.url).snapshotNow();
      expect(done.position).to.equal(await t.ledger.store.headPosition());
      const warnings: unknown[] = [];
      const model = await loadSnapshot(t.ledger.store, file, (_m, d) => void warnings.push(d));
      expect(warnings).to.deep.equal([]);
      expect(readSnapshot(file)!.header.store).to.equal('postgres');
      const fromSnap = await t.reopen({}, model!);
      expect(fromSnap.read.image()).to.deep.equal(t.ledger.read.image());
    } finally {
      await t.dispose();
      await db.drop();
    }
  });
});
