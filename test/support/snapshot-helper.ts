// Stands in for a server in the orphan test: starts a snapshot of the data folder in argv[2], then either waits for it
// ("stay": prints "written <position>") or is killed with SIGKILL the moment the snapshot process is started ("orphan").
import { feedSnapshotFile, snapshotFile } from '../../services/snapshots/snapshot-file.js';
import { Snapshotter } from '../../services/snapshots/snapshotter.js';

const [dir, mode] = process.argv.slice(2);
if (dir === undefined || (mode !== 'stay' && mode !== 'orphan')) throw new TypeError('usage: <data dir> stay|orphan');
const s = new Snapshotter({
  job: {
    store: { dataDir: dir, eventStoreUrl: null, databaseUrl: null },
    file: snapshotFile(dir),
    feedFile: feedSnapshotFile(dir),
  },
  every: 0,
  position: () => 0,
  loadedAt: -1,
  warn: () => undefined,
  written: () => undefined,
  failed: () => undefined,
});
const done = s.snapshotNow(); // the process is started before this returns
if (mode === 'orphan') process.kill(process.pid, 'SIGKILL');
console.log(`written ${(await done).position}`);
