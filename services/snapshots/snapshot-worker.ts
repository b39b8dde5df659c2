// Worker thread: brings the last snapshots (read model, revocation feed) up to the store's head on its own store connection and writes the next one,
// so building, serializing and hashing a large image never runs on the request loop.
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../../projections/background-thread.js';
import { toStoredEvent } from '../../events/serialization.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { toImage } from '../../projections/read-model/image.js';
import { openStore } from '../open-store.js';
import { FeedState, type FeedImage } from '../../projections/revocations/feed-state.js';
import { loadImage, loadSnapshot, placeIn, type SnapshotWarning } from './load-snapshot.js';
import { REVOCATION_FEED_SNAPSHOT, writeSnapshot } from './snapshot-file.js';
import type { SnapshotDone, SnapshotJob, SnapshotMessage } from './snapshot-job.js';

const PAGE = 5000;

async function run(job: SnapshotJob): Promise<void> {
  const post = (m: SnapshotMessage): void => parentPort!.postMessage(m);
  lowerThreadPriority();
  const t0 = performance.now();
  const store = await openStore(job.store);
  try {
    const warn: SnapshotWarning = (msg, detail) => post({ type: 'warn', msg, detail });
    const model = (await loadSnapshot(store, job.file, warn)) ?? new ReadModel();
    // Items are built with the default source: the feed re-sources them at load.
    const feed =
      job.feedFile === null
        ? null
        : ((await loadImage(
            store,
            job.feedFile,
            REVOCATION_FEED_SNAPSHOT,
            (i: FeedImage) => FeedState.fromImage(i),
            warn,
          )) ?? new FeedState());
    const from = model.position;
    const feedFrom = feed?.position ?? from;
    for (let after = Math.min(from, feedFrom); ;) {
      const page = await store.readAll({ after, maxCount: PAGE });
      for (const r of page.events) {
        if (r.position > model.position) {
          const e = toStoredEvent(r);
          if (e) model.apply(e);
          else model.skipTo(r.position);
        }
        feed?.apply(r);
      }
      after = page.lastPosition;
      if (page.isEnd || page.events.length === 0) break;
    }
    const place = model.position > from ? await placeIn(store, model.position) : null;
    const bytes = place === null ? 0 : writeSnapshot(job.file, place, toImage(model));
    let feedDone: SnapshotDone['feed'] = null;
    if (feed !== null && job.feedFile !== null) {
      const feedPlace = feed.position > feedFrom ? await placeIn(store, feed.position) : null;
      const feedBytes =
        feedPlace === null ? 0 : writeSnapshot(job.feedFile, feedPlace, feed.toImage(), REVOCATION_FEED_SNAPSHOT);
      feedDone = { position: feed.position, bytes: feedBytes };
    }
    post({ type: 'done', position: model.position, from, bytes, feed: feedDone, ms: performance.now() - t0 });
  } finally {
    await store.close();
  }
}

await run(workerData as SnapshotJob);
