// Worker thread: brings the last snapshots (read model, revocation feed) up to the store's head on its own store connection and writes the next one,
// so building, serializing and hashing a large image never runs on the request loop.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { readPages } from '../../events/store/read-pages.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { toImage } from '../../projections/read-model/image.js';
import { openStore } from '../open-store.js';
import { FeedState, type FeedImage } from '../../projections/revocations/feed-state.js';
import { loadImage, loadSnapshot, placeIn, type SnapshotWarning } from './load-snapshot.js';
import {
  READ_MODEL_SNAPSHOT,
  REVOCATION_FEED_SNAPSHOT,
  writeSnapshot,
  type SnapshotImage,
  type SnapshotKind,
} from './snapshot-file.js';
import type { SnapshotDone, SnapshotJob, SnapshotMessage } from './snapshot-job.js';

const PAGE = 5000;

/** Lowest CPU priority for this thread (on Linux a nice value is per thread); a platform that refuses keeps it as is. */
function lowerPriority(): void {
  try {
    setPriority(19);
  } catch (err) {
    if (!(err instanceof Error && 'code' in err)) throw err; // EACCES/ENOSYS: only speed differs
  }
}

async function run(job: SnapshotJob): Promise<void> {
  const post = (m: SnapshotMessage): void => parentPort!.postMessage(m);
  lowerPriority();
  const t0 = performance.now();
  const store = await openStore(job.store);
  try {
    const warn: SnapshotWarning = (msg, detail) => post({ type: 'warn', msg, detail });
    const model = (await loadSnapshot(store, job.file, warn)) ?? new ReadModel();
    // Items are built with the default source: the feed re-sources them at load.
    const feed =
      (await loadImage(
        store,
        job.feedFile,
        REVOCATION_FEED_SNAPSHOT,
        (i: FeedImage) => FeedState.fromImage(i),
        warn,
      )) ?? new FeedState();
    const from = model.position;
    const feedFrom = feed.position;
    // Both ignore what they already hold, so one pass from the older of the two serves both.
    for await (const page of readPages(store, { after: Math.min(from, feedFrom), pageSize: PAGE }))
      for (const r of page) {
        model.applyRecorded(r);
        feed.apply(r);
      }
    const write = async (
      file: string,
      position: number,
      image: () => SnapshotImage,
      kind: SnapshotKind,
    ): Promise<number> => {
      const place = await placeIn(store, position);
      return place === null ? 0 : writeSnapshot(file, place, image(), kind);
    };
    const bytes =
      model.position > from ? await write(job.file, model.position, () => toImage(model), READ_MODEL_SNAPSHOT) : 0;
    const feedBytes =
      feed.position > feedFrom
        ? await write(job.feedFile, feed.position, () => feed.toImage(), REVOCATION_FEED_SNAPSHOT)
        : 0;
    const done: SnapshotDone = {
      type: 'done',
      position: model.position,
      from,
      bytes,
      feed: { position: feed.position, bytes: feedBytes },
      ms: performance.now() - t0,
    };
    post(done);
  } finally {
    await store.close();
  }
}

await run(workerData as SnapshotJob);
