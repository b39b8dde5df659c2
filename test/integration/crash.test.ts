// Crash safety of the SQLite store under group commit: a child appends with many appends in flight and
// prints every acknowledged append; we SIGKILL it mid-stream and check that the file still holds every
// acknowledged event, in a log that reads end to end with strictly increasing positions, contiguous
// revisions per stream, and no half-written append.
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { tempDir } from '../support/tmp.js';

const CHILD = fileURLToPath(new URL('../support/children/append-under-load.js', import.meta.url));
const KILL_AFTER_ACKS = 3000;
const KILL_AFTER_MS = 10_000;
const LANES = 64;
const SEQ_LANES = 8; // must match the child

interface Ack {
  lane: number;
  n: number;
  streamId: string;
  nextRevision: number;
  position: number;
  ids: string[];
}

function parseAck(line: string): Ack {
  const [tag, lane, n, streamId, nextRevision, position, ids] = line.split(' ');
  if (tag !== 'ack' || ids === undefined || streamId === undefined)
    throw new Error(`unexpected line from child: ${line}`);
  return {
    lane: Number(lane),
    n: Number(n),
    streamId,
    nextRevision: Number(nextRevision),
    position: Number(position),
    ids: ids.split(','),
  };
}

interface LoadData {
  lane: number;
  n: number;
  j: number;
  of: number;
}

describe('crash: SIGKILL during group-committed appends', () => {
  let dir: ReturnType<typeof tempDir>;
  let child: ChildProcess | null = null;
  beforeEach(() => {
    dir = tempDir('crash');
  });
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = null;
    dir.cleanup();
  });

  it('keeps every acknowledged event and a consistent, readable log', async function () {
    this.timeout(20_000);
    const file = join(dir.path, 'ledger.db');
    const c = spawn(process.execPath, [CHILD, file, String(LANES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));

    const acks: Ack[] = [];
    let ready = false;
    let killedByUs = false;
    const killNow = (): void => {
      if (!killedByUs) {
        killedByUs = true;
        c.kill('SIGKILL');
      }
    };
    const deadline = setTimeout(killNow, KILL_AFTER_MS);
    const lines = createInterface({ input: c.stdout });
    lines.on('line', (line) => {
      if (line === 'ready') ready = true;
      else {
        acks.push(parseAck(line));
        if (acks.length >= KILL_AFTER_ACKS) killNow();
      }
    });
    // 'close' comes after the process is gone and its stdout is drained: every ack it printed is in `acks`.
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      c.on('close', (co, si) => resolve([co, si])),
    );
    clearTimeout(deadline);
    expect(killedByUs, `child ended on its own (code ${code}): ${stderr}`).to.equal(true);
    expect(signal).to.equal('SIGKILL');
    expect(ready).to.equal(true);
    expect(acks.length, 'acks before the kill').to.be.greaterThan(100);

    // SQLite itself must find the file sound after recovering the WAL.
    const raw = new Database(file);
    expect(raw.pragma('integrity_check', { simple: true })).to.equal('ok');
    raw.close();

    const store = new SqliteEventStore(file);
    try {
      const all: RecordedEvent[] = [];
      for (let after = -1; ;) {
        const page = await store.readAll({ after, maxCount: 500 });
        all.push(...page.events);
        after = page.lastPosition;
        if (page.isEnd) break;
      }
      expect(all.length).to.be.at.least(acks.reduce((s, a) => s + a.ids.length, 0));
      expect(await store.headPosition()).to.equal(all.at(-1)!.position);

      // Positions strictly increase; revisions per stream are 0, 1, 2, … in log order.
      const byId = new Map<string, RecordedEvent>();
      const streamHeads = new Map<string, number>();
      let last = 0;
      for (const e of all) {
        expect(e.position, 'positions strictly increase').to.be.greaterThan(last);
        last = e.position;
        const expectedRev = (streamHeads.get(e.streamId) ?? -1) + 1;
        expect(e.revision, `revision of ${e.streamId} at ${e.position}`).to.equal(expectedRev);
        streamHeads.set(e.streamId, expectedRev);
        expect(byId.has(e.id), `event ${e.id} stored once`).to.equal(false);
        byId.set(e.id, e);
      }

      // Every acknowledged append is there, whole, where the ack said.
      const acked = new Set<string>();
      for (const a of acks) {
        const k = a.ids.length;
        a.ids.forEach((id, j) => {
          const e = byId.get(id);
          expect(e, `acknowledged event ${id} (lane ${a.lane} #${a.n})`).to.not.equal(undefined);
          expect(e!.streamId).to.equal(a.streamId);
          expect(e!.revision).to.equal(a.nextRevision - (k - 1 - j));
          expect(e!.position).to.equal(a.position - (k - 1 - j));
          expect(e!.data).to.deep.include({ lane: a.lane, n: a.n, j, of: k });
          acked.add(id);
        });
      }

      // Lanes with an exact expected revision saw their own appends in order, and nothing else in their stream.
      for (let lane = 0; lane < SEQ_LANES; lane++) {
        const mine = acks.filter((a) => a.lane === lane);
        let rev = -1;
        mine.forEach((a, i) => {
          expect(a.n).to.equal(i);
          expect(a.nextRevision - a.ids.length).to.equal(rev);
          rev = a.nextRevision;
        });
        const stored = await store.readStream(`seq-${lane}`);
        expect(stored.length).to.be.at.least(rev + 1);
        stored.forEach((e) => expect((e.data as LoadData).lane).to.equal(lane));
      }

      // Appends in flight at the kill may or may not have landed, but never in part.
      const groups = new Map<string, RecordedEvent[]>();
      for (const e of all) {
        if (acked.has(e.id)) continue;
        const d = e.data as LoadData;
        const key = `${d.lane}/${d.n}`;
        groups.set(key, [...(groups.get(key) ?? []), e]);
      }
      for (const [key, evs] of groups) {
        const of = (evs[0]!.data as LoadData).of;
        expect(
          evs.map((e) => (e.data as LoadData).j),
          `unacknowledged append ${key} is whole`,
        ).to.deep.equal(Array.from({ length: of }, (_, j) => j));
        evs.forEach((e, j) => j > 0 && expect(e.position).to.equal(evs[j - 1]!.position + 1));
      }

      if (process.env.CRASH_DEBUG)
        console.log({ acks: acks.length, stored: all.length, unackedAppendsLanded: groups.size });
      // And the store keeps working on the recovered file.
      const seq0 = streamHeads.get('seq-0') ?? -1;
      const r = await store.append(
        'seq-0',
        [{ id: crypto.randomUUID(), type: 'AfterCrash', data: {}, metadata: {} }],
        seq0 === -1 ? 'no_stream' : seq0,
      );
      expect(r.nextRevision).to.equal(seq0 + 1);
      expect(r.position).to.be.greaterThan(last);
    } finally {
      await store.close();
    }
  });
});
