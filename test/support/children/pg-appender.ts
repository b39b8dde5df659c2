// Child process for the PostgreSQL ordering test: appends `count` events with `lanes` appends in flight, each to one of
// a few shared streams (expected 'any') or its own stream (exact revision), then prints "done <acks>" and exits.
//
//   node pg-appender.js <url> <label> <count> [lanes=16]
import { randomUUID } from 'node:crypto';
import { PostgresEventStore } from '../../../events/store/postgres.js';
import { StoreUnavailableError } from '../../../events/errors.js';

const [url, label, countArg, lanesArg] = process.argv.slice(2);
const count = Number(countArg);
const lanes = Number(lanesArg ?? 16);
if (!url || !label || !(count > 0)) {
  process.stderr.write('usage: pg-appender <url> <label> <count> [lanes]\n');
  process.exit(2);
}

const store = await PostgresEventStore.open(url, { pollIntervalMs: 1000 });
let next = 0;
let acks = 0;

async function lane(i: number): Promise<void> {
  let revision = -1;
  for (;;) {
    const n = next++;
    if (n >= count) return;
    const own = i % 2 === 0;
    const stream = own ? `own-${label}-${i}` : `shared-${n % 3}`;
    const events = [{ id: randomUUID(), type: 'Appended', data: { label, n }, metadata: {} }];
    for (;;) {
      try {
        const r = await store.append(stream, events, own ? (revision === -1 ? 'no_stream' : revision) : 'any');
        if (own) revision = r.nextRevision;
        acks++;
        break;
      } catch (err) {
        // A lost connection leaves the outcome unknown: the same ids make the retry idempotent.
        if (!(err instanceof StoreUnavailableError && err.retriable)) throw err;
      }
    }
  }
}

await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
process.stdout.write(`done ${acks}\n`);
await store.close();
