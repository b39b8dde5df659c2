// Compliance export against a real server: filtered JSONL/CSV exports, the signed manifest verified offline with the
// published JWKS, tampering named by record, URL tokens, permissions, and a consistent snapshot under concurrent writes.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import type { RecordedEvent } from '../../events/store/types.js';
import { SYSTEM, type Ledger } from '../../services/ledger.js';
import { auditPlugin } from '../../services/audit/plugin.js';
import { verifyExportFile } from '../../services/audit/verify-export.js';
import { TestClock } from '../support/ledger.js';
import { auditServerEnv } from '../support/audit-stores.js';
import { INVALID_TOKEN_BODY, startTestServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';
import { checkedFetch } from '../support/contract.js';

const PASSWORD = 'correct horse battery staple';
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

interface History {
  wsA: string;
  wsB: string;
  auditorToken: string;
  memberToken: string;
}

/** A few hundred events over two workspaces, one minute apart: keys created, used, rotated and revoked. */
async function makeHistory(ledger: Ledger, clock: TestClock): Promise<History> {
  const a = await ledger.users.register({ email: 'a@example.com', name: 'A', password: PASSWORD }, SYSTEM);
  const wsA = (await ledger.workspaces.create('A', a.id, SYSTEM)).id;
  const b = await ledger.users.register({ email: 'b@example.com', name: 'B', password: PASSWORD }, SYSTEM);
  const wsB = (await ledger.workspaces.create('B', b.id, SYSTEM)).id;
  const auditor = await ledger.users.register(
    { email: 'aud@example.com', name: 'Aud', password: PASSWORD, workspaceId: wsA, role: 'auditor' },
    SYSTEM,
  );
  const member = await ledger.users.register(
    { email: 'm@example.com', name: 'M', password: PASSWORD, workspaceId: wsA, role: 'member' },
    SYSTEM,
  );
  const auditorKey = await ledger.keys.create(
    { userId: auditor.id, workspaceId: wsA, name: 'export', scopes: ['audit:export', 'audit:read'] },
    SYSTEM,
  );
  const memberKey = await ledger.keys.create({ userId: member.id, workspaceId: wsA, name: 'member' }, SYSTEM);
  for (let i = 0; i < 60; i++) {
    clock.advance(60);
    for (const [user, ws] of [
      [a.id, wsA],
      [b.id, wsB],
    ] as const) {
      const k = await ledger.keys.create(
        {
          userId: user,
          workspaceId: ws,
          name: `k${i}`,
          description: i % 7 === 0 ? '=cmd|"/c calc"!A1' : null,
          retrievable: i % 5 === 0,
        },
        SYSTEM,
      );
      if (i % 3 === 0) await ledger.keys.revoke(k.key.id, 'test', SYSTEM);
      else if (i % 4 === 1) await ledger.keys.rotate(k.key.id, 0, SYSTEM);
    }
  }
  return { wsA, wsB, auditorToken: auditorKey.token, memberToken: memberKey.token };
}

async function allEvents(ledger: Ledger): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let after = -1;
  for (;;) {
    const p = await ledger.store.readAll({ after, maxCount: 1000 });
    out.push(...p.events);
    after = p.lastPosition;
    if (p.isEnd || p.events.length === 0) return out;
  }
}

function occurredMs(e: RecordedEvent): number {
  return Date.parse((e.metadata as { occurredAt: string }).occurredAt);
}

type Data = { workspaceId?: string; keyId?: string; userId?: string; digest?: string };
const data = (e: RecordedEvent): Data => e.data as Data;

/** From the raw log alone: is the event about workspace ws (its own workspaceId, or an event of a key created in ws)? */
function aboutWorkspace(log: readonly RecordedEvent[], ws: string): (e: RecordedEvent) => boolean {
  const keys = new Set(
    log.filter((e) => e.type === 'ApiKeyCreated' && data(e).workspaceId === ws).map((e) => data(e).keyId),
  );
  return (e) => data(e).workspaceId === ws || (e.type.startsWith('ApiKey') && keys.has(data(e).keyId));
}

function lineOffsets(buf: Buffer): number[] {
  const starts = [0];
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) starts.push(i + 1);
  return starts;
}

for (const backend of ['sqlite', 'postgres'] as const)
  describe(`e2e: audit export (JSONL/CSV, signed manifest, offline verification) (${backend})`, function () {
    let pg: Awaited<ReturnType<typeof auditServerEnv>>;
    this.timeout(60_000);
    let s: TestServer;
    let clock: TestClock;
    let admin: string;
    let h: History;
    let jwks: JWK[];
    let dir: { path: string; cleanup: () => void };

    beforeEach(async () => {
      clock = new TestClock(T0);
      pg = await auditServerEnv(backend);
      s = await startTestServer({ ...pg.env, LEDGER_CHECKPOINT_EVERY: '100' }, [auditPlugin()], undefined, {
        clock: clock.now,
      });
      h = await makeHistory(s.running.ledger, clock);
      admin = await s.login(); // after the history: the test clock has moved an hour
      jwks = (await s.request('GET', '/.well-known/jwks.json')).body.keys as JWK[];
      dir = tempDir('export');
    });
    afterEach(async () => {
      await s.dispose();
      await pg.drop();
      dir.cleanup();
    });

    async function download(path: string, token = admin): Promise<{ file: string; text: string; headers: Headers }> {
      const r = await s.request('GET', path, { token });
      expect(r.status, r.text.slice(0, 300)).to.equal(200);
      const file = join(
        dir.path,
        `export-${Math.random().toString(36).slice(2)}.${path.includes('format=csv') ? 'csv' : 'jsonl'}`,
      );
      writeFileSync(file, r.text);
      return { file, text: r.text, headers: r.headers };
    }

    async function expectFailure(
      file: string,
      code: string,
      record?: number,
      opts: { manifestFile?: string } = {},
    ): Promise<void> {
      const v = await verifyExportFile(file, { jwks, ...opts });
      expect(v.ok, JSON.stringify(v)).to.equal(false);
      expect(v.failure?.code, JSON.stringify(v)).to.equal(code);
      if (record !== undefined) expect(v.failure?.record, JSON.stringify(v)).to.equal(record);
    }

    it('exports a filtered range whose count equals the ledger’s own, and verifies with the published JWKS', async () => {
      const from = new Date(T0 + 10 * 60_000).toISOString();
      const to = new Date(T0 + 40 * 60_000).toISOString();
      const types = ['ApiKeyCreated', 'ApiKeyRevoked'];
      const headBefore = s.running.ledger.read.position;
      const { file, text, headers } = await download(
        `/v1/audit/export?format=jsonl&workspaceId=${h.wsA}&type=${types.join(',')}&from=${from}&to=${to}`,
      );
      expect(headers.get('content-type')).to.match(/^application\/x-ndjson/);
      expect(headers.get('content-disposition')).to.match(/^attachment; filename="audit-export-\d+\.jsonl"$/);
      expect(headers.get('cache-control')).to.equal('no-store');

      const lines = text.trimEnd().split('\n');
      const trailer = JSON.parse(lines.pop()!);
      const m = trailer.manifest;
      const log = await allEvents(s.running.ledger);
      const inA = aboutWorkspace(log, h.wsA);
      const expected = log.filter(
        (e) =>
          e.position <= m.range.toPosition &&
          inA(e) &&
          types.includes(e.type) &&
          occurredMs(e) >= Date.parse(from) &&
          occurredMs(e) < Date.parse(to),
      );
      // Revocations carry only keyId: they belong to the workspace through their key, and must be in the export.
      expect(expected.filter((e) => e.type === 'ApiKeyRevoked').length).to.be.greaterThan(5);
      expect(expected.filter((e) => e.type === 'ApiKeyCreated').length).to.be.greaterThan(5);
      expect(lines).to.have.length(expected.length);
      expect(m.count).to.equal(expected.length);
      expect(lines.map((l) => JSON.parse(l).position)).to.deep.equal(expected.map((e) => e.position));
      expect(m).to.include({ version: 1, format: 'jsonl', kid: jwks[0]!.kid });
      expect(m.filters).to.deep.equal({ workspaceId: h.wsA, type: types, from, to });
      expect(m.scope).to.equal(null); // a system admin on a session: the whole ledger
      expect(m.range).to.include({ from, to });
      // Pinned to the head when the export started (a timed checkpoint may land meanwhile).
      expect(m.range.toPosition).to.be.within(headBefore, s.running.ledger.read.position);
      expect(trailer.signature).to.include({ alg: 'EdDSA', kid: jwks[0]!.kid });
      // The export never carries a secret: sealed tokens are digests.
      expect(text).not.to.match(/"sealed":"/);

      const v = await verifyExportFile(file, { jwks });
      expect(v, JSON.stringify(v.failure)).to.deep.equal({ ok: true, records: expected.length, kid: jwks[0]!.kid });
    });

    it('an unfiltered export links record to record up to the signed head (and its checkpoint, when one exists)', async () => {
      const { file, text } = await download('/v1/audit/export');
      const lines = text.trimEnd().split('\n');
      const m = JSON.parse(lines.pop()!).manifest;
      expect(lines).to.have.length(
        (await allEvents(s.running.ledger)).filter((e) => e.position <= m.range.toPosition).length,
      );
      expect(m.lastChain).to.equal(m.head.chain);
      expect(JSON.parse(lines[0]!).prevChain).to.equal('0'.repeat(64));
      if (m.checkpoint !== null) expect(m.checkpoint.position).to.be.at.most(m.range.toPosition);
      expect((await verifyExportFile(file, { jwks })).ok).to.equal(true);
    });

    it('a flipped byte anywhere in a record fails naming that record', async () => {
      const { file } = await download(`/v1/audit/export?workspaceId=${h.wsA}`);
      const orig = readFileSync(file);
      const starts = lineOffsets(orig);
      const records = starts.length - 2; // the last start is after the trailer's newline, the one before is the trailer
      for (const k of [1, Math.floor(records / 2), records]) {
        const from = starts[k - 1]!;
        const len = starts[k]! - 1 - from;
        for (let i = 0; i < 24; i++) {
          const at = from + Math.floor((i * len) / 24);
          const bad = Buffer.from(orig);
          bad[at] = bad[at]! ^ 0x01;
          writeFileSync(file, bad);
          const v = await verifyExportFile(file, { jwks });
          expect(v.ok, `offset ${at - from} of record ${k}`).to.equal(false);
          expect(v.failure?.record, `offset ${at - from} of record ${k}: ${JSON.stringify(v.failure)}`).to.equal(k);
        }
      }
    });

    it('deleted, swapped, duplicated and truncated records, and a forged manifest, fail with their codes', async () => {
      const filtered = await download(`/v1/audit/export?workspaceId=${h.wsA}`);
      const unfiltered = await download('/v1/audit/export');
      const edit = (src: string, change: (lines: string[]) => void): string => {
        const lines = readFileSync(src, 'utf8').split('\n');
        change(lines);
        const out = join(dir.path, `edited-${Math.random().toString(36).slice(2)}.jsonl`);
        writeFileSync(out, lines.join('\n'));
        return out;
      };
      await expectFailure(
        edit(filtered.file, (l) => l.splice(4, 1)),
        'COUNT_MISMATCH',
      );
      await expectFailure(
        edit(unfiltered.file, (l) => l.splice(4, 1)),
        'BROKEN_LINK',
        5,
      );
      await expectFailure(
        edit(filtered.file, (l) => l.splice(5, 2, l[6]!, l[5]!)),
        'OUT_OF_ORDER',
        7,
      );
      await expectFailure(
        edit(unfiltered.file, (l) => l.splice(5, 2, l[6]!, l[5]!)),
        'BROKEN_LINK',
        6,
      );
      await expectFailure(
        edit(filtered.file, (l) => l.splice(3, 0, l[3]!)),
        'OUT_OF_ORDER',
        5,
      );
      // Truncated: mid-record, and exactly at a record boundary (no manifest line either way).
      const bytes = readFileSync(filtered.file);
      const cut = join(dir.path, 'cut.jsonl');
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
      await expectFailure(cut, 'MISSING_MANIFEST', 0);
      writeFileSync(cut, bytes.subarray(0, lineOffsets(bytes).at(-2)));
      await expectFailure(cut, 'MISSING_MANIFEST', 0);
      // The manifest itself: an edited count, a foreign key.
      await expectFailure(
        edit(filtered.file, (l) => {
          const t = JSON.parse(l.at(-2)!);
          t.manifest.count -= 1;
          l[l.length - 2] = JSON.stringify(t);
        }),
        'BAD_SIGNATURE',
        0,
      );
      const other = (await import('node:crypto')).generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
      const v = await verifyExportFile(filtered.file, { jwks: [{ ...other, kid: 'someone-else' }] });
      expect(v.failure?.code).to.equal('UNKNOWN_KID');
    });

    it('CSV with its sidecar manifest verifies; a flipped CSV byte fails naming the record', async () => {
      const { file, text, headers } = await download(`/v1/audit/export?format=csv&workspaceId=${h.wsA}`);
      expect(headers.get('content-type')).to.match(/^text\/csv/);
      expect(headers.get('cache-control')).to.equal('no-store');
      const url = headers.get('x-audit-manifest')!;
      expect(url).to.match(/^\/v1\/audit\/export\/manifest\?format=csv&workspaceId=.+&toPosition=\d+$/);
      expect(headers.get('link')).to.equal(`<${url}>; rel="describedby"; type="application/json"`);
      const lines = text.split('\r\n');
      expect(lines[0]).to.match(/^position,occurred_at,type,/);
      // Formula-looking descriptions stay inside the (quoted, verbatim) event cell; derived cells never start with =.
      expect(text).to.include('=cmd|');
      for (const l of lines.slice(1, -1))
        expect(
          l
            .split(',')
            .slice(1, 13)
            .some((c) => /^[=+@]/.test(c)),
        ).to.equal(false);

      const sidecar = await s.request('GET', url, { token: admin });
      expect(sidecar.status, sidecar.text).to.equal(200);
      expect(sidecar.body.manifest.count).to.equal(lines.length - 2);
      writeFileSync(`${file}.manifest.json`, sidecar.text);
      expect(await verifyExportFile(file, { jwks })).to.deep.equal({
        ok: true,
        records: lines.length - 2,
        kid: jwks[0]!.kid,
      });

      const orig = readFileSync(file);
      const starts = lineOffsets(orig);
      const k = 3;
      for (const frac of [0.05, 0.2, 0.5, 0.8, 0.97]) {
        const bad = Buffer.from(orig);
        const at = starts[k]! + Math.floor(frac * (starts[k + 1]! - starts[k]! - 2));
        bad[at] = bad[at]! ^ 0x01;
        writeFileSync(file, bad);
        const v = await verifyExportFile(file, { jwks });
        expect(v.ok).to.equal(false);
        expect(v.failure?.record, JSON.stringify(v.failure)).to.equal(k);
      }
      writeFileSync(file, orig);
      // Without its sidecar, and with the sidecar of a JSONL export.
      await expectFailure(file, 'MISSING_MANIFEST', 0, { manifestFile: join(dir.path, 'nope.json') });
      const jsonl = await download(`/v1/audit/export?workspaceId=${h.wsA}`);
      const trailer = readFileSync(jsonl.file, 'utf8').trimEnd().split('\n').at(-1)!;
      writeFileSync(join(dir.path, 'wrong.json'), trailer);
      await expectFailure(file, 'DIGEST_MISMATCH', 0, { manifestFile: join(dir.path, 'wrong.json') });
    });

    it('accepts ?api_token= on the export only; needs audit:export; refuses bad input with 400', async () => {
      const viaUrl = await s.request('GET', `/v1/audit/export?workspaceId=${h.wsA}&api_token=${h.auditorToken}`);
      expect(viaUrl.status, viaUrl.text.slice(0, 200)).to.equal(200);
      expect(viaUrl.text.trimEnd().split('\n').at(-1)).to.match(/^\{"manifest":/);
      const refused = await s.request('GET', `/v1/keys?api_token=${h.auditorToken}`);
      expect(refused.status).to.equal(401);
      expect(refused.body).to.deep.equal(INVALID_TOKEN_BODY);

      const denied = await s.request('GET', `/v1/audit/export?workspaceId=${h.wsA}`, { token: h.memberToken });
      expect(denied.status).to.equal(403);
      expect(denied.body.errors[0].code).to.equal('permission_denied');
      // A workspace outside the caller's reach is not acknowledged, exactly as on GET /v1/audit.
      expect(
        (await s.request('GET', `/v1/audit/export?workspaceId=${h.wsB}`, { token: h.auditorToken })).status,
      ).to.equal(404);
      expect((await s.request('GET', `/v1/audit?workspaceId=${h.wsB}`, { token: h.auditorToken })).status).to.equal(
        404,
      );
      expect((await s.request('GET', '/v1/audit/export')).status).to.equal(401);

      for (const q of [
        'format=xml',
        'type=Nope',
        'from=yesterday',
        'toPosition=abc',
        'bogus=1',
        'from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
      ]) {
        const r = await s.request('GET', `/v1/audit/export?${q}`, { token: admin });
        expect(r.status, q).to.equal(400);
        expect(r.body.type, q).to.equal('validation_error');
      }
      const beyond = await s.request('GET', `/v1/audit/export?toPosition=99999999`, { token: admin });
      expect(beyond.status).to.equal(400);
      expect(beyond.body.errors[0].attr).to.equal('toPosition');
      expect((await s.request('GET', '/v1/audit/export/manifest?format=csv', { token: admin })).status).to.equal(400);
    });

    it('is scoped like GET /v1/audit: a workspace auditor or owner exports only their workspace’s events', async () => {
      const owner = await s.login('a@example.com', PASSWORD);
      for (const [who, token] of [
        ['auditor key of A', h.auditorToken],
        ['owner of A (session)', owner],
      ] as const) {
        const { file, text } = await download('/v1/audit/export', token);
        const lines = text.trimEnd().split('\n');
        const m = JSON.parse(lines.pop()!).manifest;
        const log = await allEvents(s.running.ledger);
        const inA = aboutWorkspace(log, h.wsA);
        const expected = log.filter((e) => e.position <= m.range.toPosition && inA(e)).map((e) => e.position);
        expect(
          lines.map((l) => JSON.parse(l).position),
          who,
        ).to.deep.equal(expected);
        expect(log.filter((e) => e.position <= m.range.toPosition && !inA(e)).length, who).to.be.greaterThan(100); // B's events exist, and were left out
        expect(m.scope, who).to.deep.equal([h.wsA]);
        expect(m.filters, who).to.deep.equal({});
        expect(await verifyExportFile(file, { jwks }), who).to.deep.equal({
          ok: true,
          records: expected.length,
          kid: jwks[0]!.kid,
        });
        // The same rows as the listing, for the same caller.
        const listed: number[] = [];
        for (let cursor: string | null = null; ;) {
          const page: { items: Array<{ position: number }>; nextCursor: string | null } = (
            await s.request('GET', `/v1/audit?order=asc&limit=1000${cursor ? `&cursor=${cursor}` : ''}`, { token })
          ).body;
          listed.push(...page.items.map((i) => i.position).filter((p) => p <= m.range.toPosition));
          if (page.items.length < 1000) break;
          cursor = page.nextCursor;
        }
        expect(listed, who).to.deep.equal(expected);
      }

      // Filters naming workspace B's user, key or token: zero rows or 404 on both routes, never B's events.
      const log = await allEvents(s.running.ledger);
      const bCreated = log.find((e) => e.type === 'ApiKeyCreated' && data(e).workspaceId === h.wsB)!;
      const bOwner = (
        log.find((e) => e.type === 'WorkspaceCreated' && data(e).workspaceId === h.wsB)!.data as { ownerId: string }
      ).ownerId;
      for (const q of [`userId=${bOwner}`, `tokenDigest=${data(bCreated).digest}`]) {
        const ex = await s.request('GET', `/v1/audit/export?${q}`, { token: h.auditorToken });
        expect(ex.status, q).to.equal(200);
        const m = JSON.parse(ex.text.trimEnd().split('\n').at(-1)!).manifest;
        expect(m.count, q).to.equal(0);
        expect(ex.text.trimEnd().split('\n'), q).to.have.length(1); // the manifest line only
        const listed = await s.request('GET', `/v1/audit?${q}`, { token: h.auditorToken });
        expect(listed.status, q).to.equal(200);
        expect(listed.body.items, q).to.deep.equal([]);
        // …while a system admin does find rows for the same filter.
        expect((await s.request('GET', `/v1/audit?${q}`, { token: admin })).body.items.length, q).to.be.greaterThan(0);
      }
      for (const path of [
        `/v1/audit/export?keyId=${data(bCreated).keyId}`,
        `/v1/audit?keyId=${data(bCreated).keyId}`,
      ]) {
        const r = await s.request('GET', path, { token: h.auditorToken });
        expect(r.status, path).to.equal(404);
        expect(r.body.errors[0].code, path).to.equal('not_found');
      }
      // The CSV sidecar is scoped the same way: it signs exactly the rows this caller got.
      const csv = await download('/v1/audit/export?format=csv', h.auditorToken);
      const sidecar = await s.request('GET', csv.headers.get('x-audit-manifest')!, { token: h.auditorToken });
      expect(sidecar.body.manifest.scope).to.deep.equal([h.wsA]);
      writeFileSync(`${csv.file}.manifest.json`, sidecar.text);
      expect((await verifyExportFile(csv.file, { jwks })).ok).to.equal(true);
    });

    it('stays a consistent snapshot while new events are written', async () => {
      const ledger = s.running.ledger;
      const owner = [...ledger.read.users()].find((u) => u.email === 'a@example.com')!;
      // Enough history for several pages, then writes racing the export.
      for (let i = 0; i < 1100; i++)
        await ledger.keys.create({ userId: owner.id, workspaceId: h.wsA, name: `bulk${i}` }, SYSTEM);
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing && i < 2000; i++)
          await ledger.keys.create({ userId: owner.id, workspaceId: h.wsA, name: `race${i}` }, SYSTEM);
      })();
      const res = await checkedFetch(`${s.url}/v1/audit/export?workspaceId=${h.wsA}&type=ApiKeyCreated`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      const chunks: Buffer[] = [];
      for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
        chunks.push(Buffer.from(c));
        await new Promise((r) => setImmediate(r)); // a slow reader: the writer keeps appending meanwhile
      }
      writing = false;
      await writer;
      const text = Buffer.concat(chunks).toString('utf8');
      const file = join(dir.path, 'race.jsonl');
      writeFileSync(file, text);
      const m = JSON.parse(text.trimEnd().split('\n').at(-1)!).manifest;
      const events = await allEvents(ledger);
      const expected = events.filter(
        (e) =>
          e.position <= m.range.toPosition &&
          e.type === 'ApiKeyCreated' &&
          (e.data as { workspaceId: string }).workspaceId === h.wsA,
      );
      expect(m.count).to.equal(expected.length);
      expect(m.count).to.be.greaterThan(1000);
      expect(events.at(-1)!.position).to.be.greaterThan(m.range.toPosition); // writes landed during the export, and were left out
      expect((await verifyExportFile(file, { jwks })).ok).to.equal(true);
    });
  });
