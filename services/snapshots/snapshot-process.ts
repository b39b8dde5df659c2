// Child process (started by Snapshotter, niced): brings the last snapshots (read model, revocation feed) up to the
// store's head on its own store connection and writes the next one, so building, serializing and hashing a large image
// never runs on the request loop, and the memory it takes goes back to the system when it exits.
import { nicedChildConfig, parentGone } from '../../projections/niced-child.js';
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
import { SNAPSHOT_JOB_ENV, type SnapshotDone, type SnapshotJob, type SnapshotMessage } from './snapshot-job.js';

const PAGE = 5000;

/**
 * A server that is gone (even by kill -9) takes its snapshot job with it: a restarted one starts its own, and two must
 * never write one file. Checked between pages, for a replay in pages may not let the channel's close in until it ends.
 */
function exitIfOrphaned(): void {
  if (parentGone()) process.exit();
}

/** Sends a message to the server; resolves once it is handed over (a server that is gone gets nothing). */
function post(m: SnapshotMessage): Promise<void> {
  return new Promise((resolve) => (process.connected ? process.send!(m, undefined, {}, () => resolve()) : resolve()));
}

async function run(job: SnapshotJob): Promise<void> {
  const t0 = performance.now();
  const store = await openStore(job.store, { readOnly: true });
  try {
    const warn: SnapshotWarning = (msg, detail) => void post({ type: 'warn', msg, detail });
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
    exitIfOrphaned();
    const from = model.position;
    const feedFrom = feed.position;
    // Both ignore what they already hold, so one pass from the older of the two serves both.
    for await (const page of readPages(store, { after: Math.min(from, feedFrom), pageSize: PAGE })) {
      exitIfOrphaned();
      for (const r of page) {
        model.applyRecorded(r);
        feed.apply(r);
      }
    }
    const write = async (
      file: string,
      position: number,
      image: () => SnapshotImage,
      kind: SnapshotKind,
    ): Promise<number> => {
      const place = await placeIn(store, position);
      if (place === null) return 0;
      const img = image();
      exitIfOrphaned();
      return writeSnapshot(file, place, img, kind);
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
    await post(done);
  } finally {
    await store.close();
  }
}

process.on('disconnect', () => process.exit());
try {
  await run(nicedChildConfig<SnapshotJob>('snapshot-process.js', SNAPSHOT_JOB_ENV));
} catch (err) {
  // The server reports it; a crash's stack on stderr would say less.
  await post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  process.exitCode = 1;
}
// The channel is all that holds the process open once the store is closed: letting it go ends the process.
if (process.connected) process.disconnect();
