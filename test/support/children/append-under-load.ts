// Child process for the crash test: appends to a SqliteEventStore as fast as it can with many appends
// in flight (so group commit batches them), and prints one line per acknowledged append the moment
// its promise resolves. The parent SIGKILLs it mid-flight and checks that every printed ack survived.
//
//   node append-under-load.js <file> [lanes=64]
//
// Lines on stdout:
//   ready
//   ack <lane> <n> <streamId> <nextRevision> <position> <eventId,eventId,...>
// Lanes 0..7 append to their own stream "seq-<lane>" with an exact expected revision; the other lanes
// append with expected 'any' to one of 32 shared "any-*" streams, so appends to one stream interleave.
import { randomUUID } from 'node:crypto';
import { SqliteEventStore } from '../../../events/store/sqlite.js';
import type { ExpectedRevision, NewEvent } from '../../../events/store/types.js';

const SEQ_LANES = 8;
const SHARED_STREAMS = 32;

const file = process.argv[2];
const lanes = Number(process.argv[3] ?? 64);
if (!file || !(lanes > 0)) {
  process.stderr.write('usage: append-under-load <file> [lanes]\n');
  process.exit(2);
}

const store = new SqliteEventStore(file, { pollIntervalMs: 1000 });
// stdout on a pipe is synchronous on Linux: once write() returns, the line is the parent's to read.
const say = (line: string): void => void process.stdout.write(line + '\n');

async function lane(i: number): Promise<never> {
  const seq = i < SEQ_LANES;
  let expected: ExpectedRevision = 'no_stream';
  for (let n = 0; ; n++) {
    const streamId = seq ? `seq-${i}` : `any-${Math.floor(Math.random() * SHARED_STREAMS)}`;
    const k = 1 + Math.floor(Math.random() * 3);
    const events: NewEvent[] = Array.from({ length: k }, (_, j) => ({
      id: randomUUID(),
      type: 'LoadTested',
      data: { lane: i, n, j, of: k, pad: 'x'.repeat(Math.floor(Math.random() * 200)) },
      metadata: { at: Date.now() },
    }));
    const r = await store.append(streamId, events, seq ? expected : 'any');
    if (seq) expected = r.nextRevision;
    say(`ack ${i} ${n} ${streamId} ${r.nextRevision} ${r.position} ${events.map((e) => e.id).join(',')}`);
  }
}

say('ready');
Promise.all(Array.from({ length: lanes }, (_, i) => lane(i))).catch((err: unknown) => {
  process.stderr.write(`append failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
