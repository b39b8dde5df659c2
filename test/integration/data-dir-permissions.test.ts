// The data folder holds password hashes, sealed tokens and keys: the folder is 0700 and every file the service writes there 0600.
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { plugins } from '../../services/cli/plugins.js';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { SqliteCheckpointStore } from '../../services/revocations/checkpoint.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';

const modeOf = (p: string): number => statSync(p).mode & 0o777;

/** Every entry of the folder with its mode in octal, so a failure names the file. */
function modes(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, modeOf(join(dir, f)).toString(8)]));
}

function expectPrivate(dir: string, mustHave: string[]): void {
  expect(modeOf(dir).toString(8), dir).to.equal('700');
  const found = modes(dir);
  expect(Object.keys(found)).to.include.members(mustHave);
  for (const [f, m] of Object.entries(found)) expect(m, f).to.equal('600');
}

const SERVER_FILES = [
  'ledger.db',
  'ledger.db-wal',
  'ledger.db-shm',
  'audit.db',
  'audit.db-wal',
  'audit.db-shm',
  'master.key',
  'signing-key.pem',
];

describe('integration: data folder permissions', () => {
  it('a new data folder is 0700 and every file in it 0600, write-ahead logs included', async () => {
    const dir = tempDir('perm');
    const data = { path: join(dir.path, 'data'), cleanup: dir.cleanup }; // created by the server, not by the test
    const s = await startTestServer({}, plugins, data);
    try {
      const session = await s.login();
      expect((await s.request('POST', '/v1/keys', { token: session, body: { name: 'k' } })).status).to.equal(201);
      expectPrivate(data.path, SERVER_FILES);
    } finally {
      await s.dispose();
    }
  });

  it('an existing 0755 folder with 0644 files is tightened when the server opens it', async () => {
    const data = tempDir('perm-old');
    let s = await startTestServer({}, plugins, data);
    try {
      const session = await s.login();
      await s.request('POST', '/v1/keys', { token: session, body: { name: 'k' } });
      await s.stop();
      // What an install made before this change looks like.
      chmodSync(data.path, 0o755);
      for (const f of readdirSync(data.path)) chmodSync(join(data.path, f), 0o644);
      s = await s.restart();
      await s.request('POST', '/v1/keys', { token: await s.login(), body: { name: 'k2' } });
      expectPrivate(data.path, SERVER_FILES);
    } finally {
      await s.dispose();
    }
  });

  it('opening a store tightens the database and the -wal and -shm an earlier run left behind', async () => {
    const dir = tempDir('perm-wal');
    const file = join(dir.path, 'ledger.db');
    const old = new Database(file);
    try {
      old.pragma('journal_mode = WAL');
      old.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)'); // leaves ledger.db-wal and -shm while `old` stays open
      chmodSync(dir.path, 0o755);
      for (const f of readdirSync(dir.path)) chmodSync(join(dir.path, f), 0o644);
      await new SqliteEventStore(file).close();
      expectPrivate(dir.path, ['ledger.db', 'ledger.db-wal', 'ledger.db-shm']);
    } finally {
      old.close();
      dir.cleanup();
    }
  });

  it('the publisher checkpoint gets the same treatment, in a folder it creates', () => {
    const dir = tempDir('perm-cp');
    try {
      const nested = join(dir.path, 'a', 'b');
      const cp = new SqliteCheckpointStore(join(nested, 'publisher.db'));
      cp.set('events', 7);
      expectPrivate(nested, ['publisher.db', 'publisher.db-wal', 'publisher.db-shm']);
      cp.close();
    } finally {
      dir.cleanup();
    }
  });

  it('a shared sticky folder keeps its mode; in-memory databases touch no file', async () => {
    const dir = tempDir('perm-sticky');
    try {
      const shared = join(dir.path, 'shared');
      mkdirSync(shared);
      chmodSync(shared, 0o1777);
      await new SqliteEventStore(join(shared, 'x.db')).close();
      expect((statSync(shared).mode & 0o7777).toString(8)).to.equal('1777');
      expect(modeOf(join(shared, 'x.db')).toString(8)).to.equal('600');
      await new SqliteEventStore(':memory:').close();
      expect(existsSync(':memory:')).to.equal(false);
    } finally {
      dir.cleanup();
    }
  });
});
