// The two kinds of audit.db connection: the writer process's (a page cache for the index leaves live rows go to, and
// fewer checkpoints) and the server's, which only reads and keeps the driver's defaults.
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { AuditDb } from '../../projections/audit/audit-db.js';
import { auditExtensions } from '../../projections/audit/timeline.js';
import { tempDir } from '../support/tmp.js';

describe('audit.db connections', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir('audit-conn')));
  afterEach(() => dir.cleanup());

  const settings = (db: AuditDb): { cache: unknown; checkpoint: unknown } => ({
    cache: db.db.pragma('cache_size', { simple: true }),
    checkpoint: db.db.pragma('wal_autocheckpoint', { simple: true }),
  });

  it('gives the writer a 64 MiB page cache and a checkpoint every 8,192 WAL pages', () => {
    const db = new AuditDb(join(dir.path, 'audit.db'), auditExtensions, { writer: true });
    try {
      expect(settings(db)).to.deep.equal({ cache: -65_536, checkpoint: 8_192 });
    } finally {
      db.close();
    }
  });

  it("leaves the server's connection at the driver's defaults", () => {
    const plain = new Database(':memory:');
    const defaults = {
      cache: plain.pragma('cache_size', { simple: true }),
      checkpoint: plain.pragma('wal_autocheckpoint', { simple: true }),
    };
    plain.close();
    const db = new AuditDb(join(dir.path, 'audit.db'), auditExtensions);
    try {
      expect(settings(db)).to.deep.equal(defaults);
    } finally {
      db.close();
    }
  });

  it('refuses a read-only writer as misuse', () => {
    expect(() => new AuditDb(join(dir.path, 'audit.db'), auditExtensions, { readonly: true, writer: true })).to.throw(
      TypeError,
    );
  });
});
