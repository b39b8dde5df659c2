// SQLite mode is single-instance: a second process on the same data folder is refused, naming the holder; a killed
// holder leaves nothing behind.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FolderLockedError, lockDataFolder } from '../../events/store/folder-lock.js';
import { tempDir } from '../support/tmp.js';

const HOLDER = fileURLToPath(new URL('../support/children/hold-folder.js', import.meta.url));

describe('SQLite data folder lock', function () {
  this.timeout(20_000);
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir('lock')));
  afterEach(() => dir.cleanup());

  it('refuses a second holder with the first one’s pid, and frees the folder when released', () => {
    const a = lockDataFolder(dir.path);
    try {
      lockDataFolder(dir.path);
      expect.fail('a second lock should be refused');
    } catch (e) {
      expect(e).to.be.instanceOf(FolderLockedError);
      expect((e as FolderLockedError).holderPid).to.equal(process.pid);
      expect((e as Error).message).to.include(`pid ${process.pid}`);
    }
    a.release();
    lockDataFolder(dir.path).release();
  });

  it('a holder killed with SIGKILL releases the folder', async () => {
    const child = spawn(process.execPath, [HOLDER, dir.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(() => lockDataFolder(dir.path)).to.throw(FolderLockedError, `pid ${child.pid}`);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    lockDataFolder(dir.path).release();
  });
});
