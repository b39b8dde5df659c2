// Worker thread: brings the last snapshot up to the store's head on its own store connection and writes the next one,
// so building, serializing and hashing a large image never runs on the request loop.
import { parentPort, workerData } from 'node:worker_threads';
import { toStoredEvent } from '../../events/serialization.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { toImage } from '../../projections/read-model/image.js';
import { openStore } from '../open-store.js';
import { loadSnapshot } from './load-snapshot.js';
import { placeIn } from './load-snapshot.js';
import { writeSnapshot } from './snapshot-file.js';
import type { SnapshotJob, SnapshotMessage } from './snapshot-job.js';

const PAGE = 5000;

async function run(job: SnapshotJob): Promise<void> {
  const post = (m: SnapshotMessage): void => parentPort!.postMessage(m);
  const t0 = performance.now();
  const store = await openStore(job.store);
  try {
    const model =
      (await loadSnapshot(store, job.file, (msg, detail) => post({ type: 'warn', msg, detail }))) ?? new ReadModel();
    const from = model.position;
    for (let after = from; ;) {
      const page = await store.readAll({ after, maxCount: PAGE });
      for (const r of page.events) {
        const e = toStoredEvent(r);
        if (e) model.apply(e);
        else model.skipTo(r.position);
      }
      after = page.lastPosition;
      if (page.isEnd || page.events.length === 0) break;
    }
    const place = model.position > from ? await placeIn(store, model.position) : null;
    const bytes = place === null ? 0 : writeSnapshot(job.file, place, toImage(model));
    post({ type: 'done', position: model.position, from, bytes, ms: performance.now() - t0 });
  } finally {
    await store.close();
  }
}

await run(workerData as SnapshotJob);
