// rebuild: replays the whole log into a fresh read model (a check that it folds) and writes it as the data folder's
// read-model and revocation-feed snapshots, then runs every registered plugin's rebuild hook (the audit plugin recomputes audit.db).
import { rmSync } from 'node:fs';
import { readPages } from '../../../events/store/read-pages.js';
import { toImage } from '../../../projections/read-model/image.js';
import { placeIn } from '../../snapshots/load-snapshot.js';
import {
  feedSnapshotFile,
  REVOCATION_FEED_SNAPSHOT,
  snapshotFile,
  writeSnapshot,
} from '../../snapshots/snapshot-file.js';
import { FeedState } from '../../../projections/revocations/feed-state.js';
import type { EventStore } from '../../../events/store/types.js';
import { ReadModel } from '../../../projections/read-model/read-model.js';
import { ledgerExists, openStore } from '../../open-ledger.js';
import { parseCommand, UsageError } from '../args.js';
import { out, type Command } from '../command.js';
import { progressBar } from '../progress.js';

async function replay(store: EventStore, dataDir: string): Promise<string> {
  const model = new ReadModel();
  const feed = new FeedState();
  const bar = progressBar('read model', await store.headPosition());
  let n = 0;
  for await (const page of readPages(store, { pageSize: 5000, progress: (p) => bar.update(p) }))
    for (const r of page) {
      model.applyRecorded(r);
      feed.apply(r);
      n++;
    }
  bar.done();
  // The next start begins here instead of from whatever snapshot an earlier run left.
  const place = await placeIn(store, model.position);
  if (place === null) {
    rmSync(snapshotFile(dataDir), { force: true });
    rmSync(feedSnapshotFile(dataDir), { force: true });
  } else {
    writeSnapshot(snapshotFile(dataDir), place, toImage(model));
    writeSnapshot(feedSnapshotFile(dataDir), place, feed.toImage(), REVOCATION_FEED_SNAPSHOT);
  }
  return `rebuilt from ${n} events: ${model.users.size} users, ${model.workspaces.size} workspaces, ${model.keysById.size} keys`;
}

export const rebuildCommand: Command = {
  name: 'rebuild',
  args: '',
  summary: "rebuild the read model and every plugin's projection (audit.db) from the log; progress on stderr",
  parse(argv) {
    parseCommand(this.name, argv, {});
    return async ({ config, modules }) => {
      if (!ledgerExists(config)) throw new UsageError(`rebuild: no ledger in ${config.dataDir} (LEDGER_DATA_DIR)`);
      const store = await openStore(config);
      try {
        const summary = await replay(store, config.dataDir);
        for (const m of modules) if (m.rebuild) out(await m.rebuild(config, store, progressBar));
        out(summary);
        return 0;
      } finally {
        await store.close();
      }
    };
  },
};
