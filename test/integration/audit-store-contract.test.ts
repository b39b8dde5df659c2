// The audit store contract: one history (real commands, plus events with awkward strings) projected by the SQLite
// store and by the PostgreSQL store, in different batchings, gives the same rows, chains, query pages, lineage,
// validAt answers, checkpointer picks, witness rows and export bytes; a PostgreSQL-made export verifies offline.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sign } from 'node:crypto';
import { GENESIS_CHAIN, checkpointSigningInput } from '../../events/chain.js';
import { LedgerError } from '../../events/errors.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { flatten } from '../../projections/audit/flatten.js';
import { PostgresAuditStore } from '../../projections/audit/postgres-store.js';
import { csvRecord, CSV_HEADER } from '../../projections/audit/row.js';
import type { SqliteAuditStore } from '../../projections/audit/sqlite-store.js';
import type { AuditStore, RecordFormat } from '../../projections/audit/store.js';
import type { AuditFilters } from '../../projections/audit/where.js';
import { buildManifest, writeRecords, type ExportSpec } from '../../services/audit/export.js';
import { signManifest } from '../../services/audit/manifest.js';
import { keyEvents, keysValidAt, lineage, listAudit, type ListSpec } from '../../services/audit/queries.js';
import { verifyExportFile } from '../../services/audit/verify-export.js';
import { loadSigningKey, type SigningKey } from '../../services/crypto/key-material.js';
import { SYSTEM, type Ledger } from '../../services/ledger.js';
import { postgresAuditStore, sqliteAuditStore, type OpenedAuditStore } from '../support/audit-stores.js';
import { makeLedger, type TestLedger } from '../support/ledger.js';
import { prng } from '../support/prng.js';
import { tempDir } from '../support/tmp.js';

const PASSWORD = 'correct horse battery staple';
/** Strings that need care somewhere: CSV quoting, the formula guard, escapes, non-ASCII, U+0000, the PG text marker. */
const AWKWARD = [
  '=1+2',
  '+x',
  '-y',
  '@z',
  '\tTab',
  'a,b',
  'say "hi"',
  'line\r\nbreak',
  'Ö ü ✓ 𝄞',
  ' pad ',
  'C:\\dir\\N',
];

interface World {
  ledger: Ledger;
  keys: string[];
  users: string[];
  wss: string[];
  tokens: string[];
}

/** Users, workspaces, memberships and keys through the real commands, with request metadata that needs care. */
async function history(t: TestLedger): Promise<World> {
  const l = t.ledger;
  const rnd = prng(41);
  const ctx = (i: number): Parameters<Ledger['keys']['revoke']>[2] => ({
    actor: SYSTEM.actor,
    request: { ip: `10.0.0.${i % 7}`, userAgent: AWKWARD[i % AWKWARD.length], requestId: `req_${i}` },
  });
  const users: string[] = [];
  for (let i = 0; i < 5; i++) {
    t.clock.advance(30);
    users.push((await l.users.register({ email: `u${i}@example.com`, name: `U ${i}`, password: PASSWORD }, ctx(i))).id);
  }
  const wss: string[] = [];
  for (let w = 0; w < 3; w++) {
    wss.push((await l.workspaces.create(`W${w}`, users[w]!, ctx(w))).id);
    for (const u of users) if (u !== users[w]) await l.workspaces.setMemberRole(wss[w]!, u, 'member', ctx(w + 10));
  }
  const keys: string[] = [];
  const tokens: string[] = [];
  const inactive = new Set<string>();
  // Workspace owners stay members; the others come and go (removed, then set again with another role).
  const removable = (ws: number): string[] => users.filter((u) => u !== users[ws]);
  const absent = new Set<string>();
  const member = (ws: number, u: string): boolean => !absent.has(`${ws}/${u}`);
  for (let i = 0; i < 150; i++) {
    t.clock.advance(Math.floor(rnd() * 120));
    const wi = i % wss.length;
    const ws = wss[wi]!;
    const user = users.find((u, j) => j >= i % users.length && !inactive.has(u) && member(wi, u)) ?? users[wi]!;
    const name = i % 9 === 0 ? `nul\u0000key ${i}` : i % 4 === 0 ? AWKWARD[i % AWKWARD.length]! : `k${i}`;
    const created = await l.keys.create(
      { userId: user, workspaceId: ws, name, retrievable: i % 5 === 0, expiresInSeconds: i % 6 === 0 ? 600 : null },
      ctx(i),
    );
    keys.push(created.key.id);
    tokens.push(created.token);
    const k = l.read.findKey(created.key.id)!;
    if (i % 2 === 0) l.recordUse(k, i % 3 === 0 ? 'bearer' : 'api-key', t.clock.ms, `192.0.2.${i}`, AWKWARD[i % 10]!);
    if (i % 7 === 0) await l.keys.revoke(created.key.id, 'test', ctx(i));
    else if (i % 7 === 1) keys.push((await l.keys.rotate(created.key.id, 300, ctx(i))).key.id);
    else if (i % 7 === 2) await l.keys.update(created.key.id, { name: `renamed "${i}"` }, ctx(i));
    else if (i % 7 === 3 && i % 5 === 0) await l.keys.reveal(created.key.id, ctx(i));
    const other = removable(wi)[i % removable(wi).length]!;
    if (i % 11 === 5 && !inactive.has(other)) {
      await l.users.deactivate(other, 'pause', ctx(i));
      inactive.add(other);
    } else if (i % 11 === 9 && inactive.size > 0) {
      const back = [...inactive][0]!;
      await l.users.reactivate(back, ctx(i));
      inactive.delete(back);
    }
    if (i % 8 === 3 && member(wi, other)) {
      await l.workspaces.removeMember(ws, other, ctx(i));
      absent.add(`${wi}/${other}`);
    } else if (i % 8 === 7 && !member(wi, other)) {
      await l.workspaces.setMemberRole(ws, other, 'auditor', ctx(i));
      absent.delete(`${wi}/${other}`);
    }
  }
  await l.usage.flush();
  t.clock.advance(3600);
  // Keys created with a ten-minute life are past it now: the expiry writer's event for each.
  for (const id of keys) if (l.read.findKey(id)?.requestedExpiresAt != null) await l.keys.expire(id);
  return { ledger: l, keys, users, wss, tokens };
}

async function allEvents(l: Ledger): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let after = -1; ;) {
    const p = await l.store.readAll({ after, maxCount: 1000 });
    out.push(...p.events);
    after = p.lastPosition;
    if (p.isEnd || p.events.length === 0) return out;
  }
}

/** Signed checkpoints as the checkpointer writes them (shape only), so the manifests name one. */
function checkpoints(after: readonly RecordedEvent[], every: number, key: SigningKey): RecordedEvent[] {
  let chain = GENESIS_CHAIN;
  const out: RecordedEvent[] = [];
  let position = after.length;
  for (const e of after) {
    chain = flatten(e, chain).chain;
    if (e.position % every !== 0) continue;
    const id = `cccccccc-0000-4000-8000-${String(e.position).padStart(12, '0')}`;
    const at = new Date(Date.parse('2026-02-01T00:00:00Z') + e.position).toISOString();
    out.push({
      id,
      streamId: 'ledger-checkpoints',
      revision: out.length,
      position: ++position,
      type: 'LedgerCheckpointed',
      data: {
        position: e.position,
        chain,
        at,
        kid: key.kid,
        signature: sign(null, checkpointSigningInput({ position: e.position, chain, at }), key.privateKey).toString(
          'base64url',
        ),
      },
      metadata: { eventId: id, occurredAt: at, actor: { type: 'system', id: 'system' }, request: {} },
    });
  }
  return out;
}

/** Applies the log in batches of random sizes (each store gets its own seed). */
async function project(store: AuditStore, events: readonly RecordedEvent[], seed: number): Promise<void> {
  const rnd = prng(seed);
  for (let i = 0; i < events.length;) {
    const n = 1 + Math.floor(rnd() * 200);
    await store.applyBatch(events.slice(i, i + n));
    i += n;
  }
}

async function exportBytes(store: AuditStore, spec: ExportSpec): Promise<{ bytes: Buffer; totals: unknown }> {
  const chunks: Buffer[] = [];
  const totals = await writeRecords(store, spec, async (c) => void chunks.push(Buffer.from(c)));
  return { bytes: Buffer.concat(chunks), totals };
}

describe('integration: the audit store contract (SQLite and PostgreSQL give the same answers)', function () {
  this.timeout(180_000);
  let t: TestLedger;
  let w: World;
  let log: RecordedEvent[];
  let key: SigningKey;
  let lite: OpenedAuditStore<SqliteAuditStore>;
  let pg: OpenedAuditStore<PostgresAuditStore> & { url: string };
  const dir = tempDir('audit-contract');

  before(async () => {
    t = await makeLedger();
    key = await loadSigningKey(t.dir);
    w = await history(t);
    const real = await allEvents(t.ledger);
    log = [...real, ...checkpoints(real, 50, key)];
    lite = await sqliteAuditStore();
    pg = await postgresAuditStore();
    await project(lite.store, log, 1);
    await project(pg.store, log, 2);
  });
  after(async () => {
    await lite?.dispose();
    await pg?.dispose();
    await t?.dispose();
    dir.cleanup();
  });

  it('stores the same rows and the same chain, and witnesses the same positions', async () => {
    expect(log.length).to.be.greaterThan(400);
    expect(await pg.store.state()).to.deep.equal(await lite.store.state());
    const all = { filters: {}, scope: null, order: 'asc' } as const;
    const a = await lite.store.rows(all);
    const b = await pg.store.rows(all);
    expect(b).to.have.length(log.length);
    for (let i = 0; i < a.length; i++) expect(b[i], `position ${a[i]!.position}`).to.deep.equal(a[i]);
    expect(b.some((r) => r.event.includes('\\u0000'))).to.equal(true); // a NUL in a key name, escaped in the event
    expect(await pg.store.witnessRows(-1, 1e9, 10_000)).to.deep.equal(await lite.store.witnessRows(-1, 1e9, 10_000));
    for (const e of log.filter((_, i) => i % 37 === 0))
      expect(await pg.store.positionOf(e.id)).to.equal(await lite.store.positionOf(e.id));
    expect(await pg.store.positionOf('no-such-event')).to.equal(null);
  });

  it('answers every filter, scope, order and cursor with the same pages', async () => {
    const created = log.find((e) => e.type === 'ApiKeyCreated')!;
    const digest = (created.data as { digest: string }).digest;
    const ms = (e: RecordedEvent): number => Date.parse((e.metadata as { occurredAt: string }).occurredAt);
    const mid = new Date(ms(log[Math.floor(log.length / 2)]!)).toISOString();
    const late = new Date(ms(log[Math.floor((log.length * 3) / 4)]!)).toISOString();
    const filters: AuditFilters[] = [
      {},
      { keyId: w.keys[3]! },
      { tokenDigest: digest },
      { userId: w.users[1]! },
      { workspaceId: w.wss[0]! },
      { actorId: 'system' },
      { type: ['ApiKeyRevoked', 'ApiKeyExpired', 'ApiKeyRotated'] },
      { type: ['ApiKeyUsed'] },
      { from: mid },
      { to: mid },
      { from: mid, to: late, type: ['ApiKeyCreated', 'ApiKeyUsed'] },
      { workspaceId: w.wss[1]!, type: ['ApiKeyCreated'] },
    ];
    const scopes = [null, [w.wss[0]!], [w.wss[1]!, w.wss[2]!]];
    let compared = 0;
    for (const f of filters)
      for (const scope of scopes)
        for (const order of ['asc', 'desc'] as const)
          for (const limit of [1, 7, 1000]) {
            let cursor: number | null = null;
            for (let page = 0; page < 4; page++) {
              const spec: ListSpec = { filters: f, scope, cursor, limit, order };
              const a = await listAudit(lite.store, spec);
              const b = await listAudit(pg.store, spec);
              expect(b, JSON.stringify(spec)).to.deep.equal(a);
              compared += a.items.length;
              if (!a.hasMore) break;
              cursor = a.items.at(-1)!.position;
            }
          }
    expect(compared).to.be.greaterThan(5000);
  });

  it('gives the same lineage, key histories and validAt answers', async () => {
    for (const k of w.keys) {
      const l = await lineage(lite.store, k);
      expect(await lineage(pg.store, k), k).to.deep.equal(l);
      const ids = [...l.predecessors, k, ...l.successors];
      expect(await keyEvents(pg.store, ids)).to.deep.equal(await keyEvents(lite.store, ids));
    }
    expect((await lineage(lite.store, w.keys[1]!)).successors.length).to.be.greaterThan(0);
    const times = log.map((e) => Date.parse((e.metadata as { occurredAt: string }).occurredAt));
    const instants = [...new Set(times)].flatMap((x) => [x - 1, x, x + 1]).filter((_, i) => i % 3 === 0);
    let nonEmpty = 0;
    for (const at of [...instants, times.at(-1)! + 10_000_000])
      for (const ws of w.wss) {
        const a = await keysValidAt(lite.store, ws, at);
        expect(await keysValidAt(pg.store, ws, at), `${ws} at ${at}`).to.deep.equal(a);
        if (a.length > 0) nonEmpty++;
      }
    expect(nonEmpty).to.be.greaterThan(50);
    expect(
      (await keysValidAt(pg.store, w.wss[0]!, times.at(-1)!)).some((k) => k.name.includes('\u0000')) ||
        (await keysValidAt(pg.store, w.wss[0]!, times[200]!)).some((k) => k.name.includes('\u0000')),
      'a key named with U+0000 comes back as it was named',
    ).to.equal(true);
  });

  it('picks the same checkpoints (every N, not counting checkpoints)', async () => {
    for (const [after, n] of [
      [-1, 1],
      [-1, 10],
      [17, 100],
      [49, 1],
      [log.length - 3, 5],
    ] as const)
      expect(await pg.store.nthAfter(after, n), `${after}+${n}`).to.deep.equal(await lite.store.nthAfter(after, n));
  });

  it('exports the same bytes (JSONL and CSV) and manifests, and the PostgreSQL export verifies offline', async () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const head = log.at(-1)!.position;
    const cases: Array<{ filters: AuditFilters; scope: readonly string[] | null; toPosition: number }> = [
      { filters: {}, scope: null, toPosition: head },
      { filters: {}, scope: null, toPosition: 123 },
      { filters: { workspaceId: w.wss[0]! }, scope: null, toPosition: head },
      { filters: { type: ['ApiKeyUsed', 'ApiKeyCreated'] }, scope: [w.wss[1]!, w.wss[2]!], toPosition: head },
    ];
    for (const c of cases)
      for (const format of ['jsonl', 'csv'] as RecordFormat[]) {
        const spec: ExportSpec = { ...c, format };
        const a = await exportBytes(lite.store, spec);
        const b = await exportBytes(pg.store, spec);
        expect(b.totals, `${format} ${JSON.stringify(c)}`).to.deep.equal(a.totals);
        expect(b.bytes.equals(a.bytes), `${format} ${JSON.stringify(c)}: bytes`).to.equal(true);
        const ma = await buildManifest(lite.store, spec, a.totals as never, key.kid, now);
        const mb = await buildManifest(pg.store, spec, b.totals as never, key.kid, now);
        expect(mb).to.deep.equal(ma);
        // The PostgreSQL export, as the server writes it, verifies with the ledger's public key.
        const signed = signManifest(mb, key);
        const file = join(dir.path, `pg-${format}-${c.toPosition}.${format}`);
        if (format === 'jsonl')
          writeFileSync(file, Buffer.concat([b.bytes, Buffer.from(`${JSON.stringify(signed)}\n`)]));
        else {
          writeFileSync(file, Buffer.concat([Buffer.from(CSV_HEADER), b.bytes]));
          writeFileSync(`${file}.manifest.json`, JSON.stringify(signed));
        }
        const v = await verifyExportFile(file, { publicKeys: [key.publicKey] });
        expect(v, `${format} ${JSON.stringify(c)}: ${JSON.stringify(v.failure)}`).to.deep.include({ ok: true });
      }
    const unfiltered = await exportBytes(pg.store, { filters: {}, scope: null, toPosition: head, format: 'csv' });
    expect(unfiltered.bytes.toString('utf8')).to.include("'=1+2").and.include('"a,b"').and.include('line\\r\\nbreak');
  });

  it('renders a cell PostgreSQL cannot hold as is (U+0000, the marker) exactly as the JS renderer does', async () => {
    const odd = await postgresAuditStore({ gapFree: false });
    try {
      const events = ['ua\u0000nul', '\u0001marked', '=\u0000both'].map((ua, i) => ({
        id: `dddddddd-0000-4000-8000-${String(i).padStart(12, '0')}`,
        streamId: `apikey-key_odd${i}`,
        revision: 0,
        position: i + 1,
        type: 'ApiKeyUsed',
        data: { keyId: `key_odd${i}`, count: 1, presentation: 'bearer' },
        metadata: {
          eventId: `e${i}`,
          occurredAt: '2026-01-01T00:00:00.000Z',
          actor: { type: 'key', id: `key_odd${i}` },
          request: { ip: ua, userAgent: ua, requestId: ua },
        },
      }));
      await odd.store.applyBatch(events);
      let chain = GENESIS_CHAIN;
      const rows = events.map((e) => {
        const r = flatten(e, chain);
        chain = r.chain;
        return r;
      });
      const stored = await odd.store.rows({ filters: {}, scope: null, order: 'asc' });
      expect(stored.map((r) => [r.ip, r.user_agent, r.request_id])).to.deep.equal(
        rows.map((r) => [r.ip, r.user_agent, r.request_id]),
      );
      const csv = await exportBytes(odd.store, { filters: {}, scope: null, toPosition: 3, format: 'csv' });
      expect(csv.bytes.toString('utf8')).to.equal(rows.map(csvRecord).join(''));
      const jsonl = await exportBytes(odd.store, { filters: {}, scope: null, toPosition: 3, format: 'jsonl' });
      expect(jsonl.bytes.toString('utf8')).to.equal(rows.map((r) => r.line).join(''));
    } finally {
      await odd.dispose();
    }
  });

  it("gives a key event without a workspace its key's from the stored rows, after a takeover by a new writer", async () => {
    const before = await pg.store.rows({ filters: {}, scope: null, order: 'asc' });
    const first = await postgresAuditStore();
    const taker = await PostgresAuditStore.open(first.url);
    try {
      // Every key is created in the first half; the second writer remembers none of them and must read the stored rows.
      const cut = log.findLastIndex((e) => e.type === 'ApiKeyCreated') + 1;
      const later = log.slice(cut).filter((e) => e.type.startsWith('ApiKey') && !('workspaceId' in (e.data as object)));
      expect(later.length).to.be.greaterThan(10);
      await project(first.store, log.slice(0, cut), 3);
      await project(taker, log.slice(cut), 4);
      expect(await taker.rows({ filters: {}, scope: null, order: 'asc' })).to.deep.equal(before);
    } finally {
      await taker.close();
      await first.dispose();
    }
  });

  it('is idempotent by position, refuses a gap, and a rebuild gives the same tables', async () => {
    const before = await pg.store.rows({ filters: {}, scope: null, order: 'asc' });
    // A writer replaying what is stored (a takeover, a retried batch) changes nothing.
    const state = await pg.store.state();
    expect(await pg.store.applyBatch(log.slice(-50))).to.deep.equal(state);
    expect(await pg.store.applyBatch(log)).to.deep.equal(state);
    expect(await pg.store.rows({ filters: {}, scope: null, order: 'asc' })).to.deep.equal(before);
    // The PostgreSQL ledger has no gaps: a batch that skips positions is refused, retriably, and writes nothing.
    const fresh = await postgresAuditStore();
    try {
      await fresh.store.applyBatch(log.slice(0, 10));
      const err = await fresh.store.applyBatch(log.slice(12, 20)).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(LedgerError);
      expect((err as LedgerError).retriable).to.equal(true);
      expect((await fresh.store.state()).position).to.equal(log[9]!.position);
      // A rebuild from the log in one transaction equals the store projected batch by batch.
      async function* pages(): AsyncGenerator<RecordedEvent[]> {
        for (let i = 0; i < log.length; i += 97) yield log.slice(i, i + 97);
      }
      await fresh.store.rebuild(pages());
      expect(await fresh.store.rows({ filters: {}, scope: null, order: 'asc' })).to.deep.equal(before);
      expect(await fresh.store.state()).to.deep.equal(state);
      for (const ws of w.wss)
        expect(await fresh.store.keysValidAt(ws, Date.parse('2026-01-01T01:00:00Z'))).to.deep.equal(
          await lite.store.keysValidAt(ws, Date.parse('2026-01-01T01:00:00Z')),
        );
    } finally {
      await fresh.dispose();
    }
  });
});
