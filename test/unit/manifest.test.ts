// The export manifest: Ed25519 sign/verify round trip over canonical JSON, and every field covered by the signature.
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { AuditDb } from '../../projections/audit/audit-db.js';
import { SqliteAuditStore } from '../../projections/audit/sqlite-store.js';
import { csvRecord, parseCsvLine, type ExportRow } from '../../projections/audit/row.js';
import { PAGE_SIZE, writeRecords } from '../../services/audit/export.js';
import {
  checkSignedManifest,
  publicKeysByKid,
  signManifest,
  type ExportManifest,
  type SignedManifest,
} from '../../services/audit/manifest.js';

async function keyPair(): Promise<{
  kid: string;
  privateKey: ReturnType<typeof generateKeyPairSync>['privateKey'];
  jwk: Record<string, unknown>;
}> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, jwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' } };
}

function manifest(kid: string): ExportManifest {
  return {
    version: 1,
    format: 'jsonl',
    generatedAt: '2026-01-01T00:00:00.000Z',
    filters: { workspaceId: 'ws_1', type: ['ApiKeyCreated'] },
    scope: ['ws_1', 'ws_2'],
    range: { fromPosition: 1, toPosition: 40, from: null, to: null },
    count: 3,
    firstChain: 'a'.repeat(64),
    lastChain: 'b'.repeat(64),
    recordsSha256: 'c'.repeat(64),
    head: { position: 40, chain: 'd'.repeat(64) },
    checkpoint: { position: 30, chain: 'e'.repeat(64), at: '2026-01-01T00:00:00.000Z', kid, signature: 'sig' },
    kid,
  };
}

describe('unit: audit export manifest', () => {
  it('signs and verifies with the key from a JWKS and from a KeyObject', async () => {
    const k = await keyPair();
    const signed = signManifest(manifest(k.kid), k);
    expect(signed.signature).to.include({ alg: 'EdDSA', kid: k.kid });
    const fromJwks = await publicKeysByKid({ jwks: [k.jwk] });
    expect(checkSignedManifest(JSON.parse(JSON.stringify(signed)), fromJwks)).to.deep.equal({ ok: true, kid: k.kid });
    const fromKey = await publicKeysByKid({ publicKeys: [k.privateKey] });
    expect(checkSignedManifest(signed, fromKey)).to.deep.equal({ ok: true, kid: k.kid });
  });

  it('refuses any tampered manifest field', async () => {
    const k = await keyPair();
    const keys = await publicKeysByKid({ jwks: [k.jwk] });
    const signed = signManifest(manifest(k.kid), k);
    const edits: Array<(m: any) => void> = [
      (m) => (m.count = 2),
      (m) => (m.recordsSha256 = 'f'.repeat(64)),
      (m) => (m.firstChain = 'f'.repeat(64)),
      (m) => (m.lastChain = null),
      (m) => (m.range.toPosition = 41),
      (m) => (m.range.fromPosition = 2),
      (m) => (m.head.chain = 'f'.repeat(64)),
      (m) => (m.filters = {}),
      (m) => (m.scope = null), // a scoped export passed off as the whole ledger
      (m) => (m.scope = ['ws_1']),
      (m) => (m.filters.type = ['ApiKeyCreated', 'ApiKeyRevoked']),
      (m) => (m.checkpoint = null),
      (m) => (m.generatedAt = '2026-01-02T00:00:00.000Z'),
      (m) => (m.format = 'csv'),
      (m) => (m.extra = 1),
    ];
    for (const edit of edits) {
      const copy = JSON.parse(JSON.stringify(signed)) as SignedManifest;
      edit(copy.manifest);
      const r = checkSignedManifest(copy, keys);
      expect(r.ok, edit.toString()).to.equal(false);
      if (!r.ok) expect(r.code, edit.toString()).to.equal('BAD_SIGNATURE');
    }
    const badSig = JSON.parse(JSON.stringify(signed)) as { signature: { value: string } };
    // Change the first character to one it is not (a fixed 'A' left 1 signature in 64 unchanged).
    const first = badSig.signature.value[0] === 'A' ? 'B' : 'A';
    badSig.signature.value = `${first}${badSig.signature.value.slice(1)}`;
    expect(checkSignedManifest(badSig, keys)).to.include({ ok: false, code: 'BAD_SIGNATURE' });
  });

  it('names an unknown kid, a kid swap and a missing manifest', async () => {
    const k = await keyPair();
    const other = await keyPair();
    const signed = signManifest(manifest(k.kid), k);
    expect(checkSignedManifest(signed, await publicKeysByKid({ jwks: [other.jwk] }))).to.include({
      ok: false,
      code: 'UNKNOWN_KID',
    });
    // Signed by another key that claims the expected kid: the signature fails.
    const forged = signManifest(manifest(k.kid), { kid: k.kid, privateKey: other.privateKey });
    expect(checkSignedManifest(forged, await publicKeysByKid({ jwks: [k.jwk] }))).to.include({
      ok: false,
      code: 'BAD_SIGNATURE',
    });
    const swapped = { ...signed, signature: { ...signed.signature, kid: other.kid } };
    expect(checkSignedManifest(swapped, await publicKeysByKid({ jwks: [k.jwk, other.jwk] }))).to.include({
      ok: false,
      code: 'BAD_SIGNATURE',
    });
    expect(checkSignedManifest({ position: 1 }, new Map())).to.include({ ok: false, code: 'MISSING_MANIFEST' });
    expect(checkSignedManifest(null, new Map())).to.include({ ok: false, code: 'MISSING_MANIFEST' });
  });

  it('refuses a manifest whose scope is neither null nor a list of ids, even when signed', async () => {
    const k = await keyPair();
    const keys = await publicKeysByKid({ jwks: [k.jwk] });
    for (const scope of [undefined, 'ws_1', [1], {}]) {
      const signed = signManifest({ ...manifest(k.kid), scope } as unknown as ExportManifest, k);
      expect(checkSignedManifest(signed, keys), JSON.stringify(scope)).to.include({ ok: false, code: 'BAD_SIGNATURE' });
    }
    expect(checkSignedManifest(signManifest({ ...manifest(k.kid), scope: null }, k), keys)).to.deep.equal({
      ok: true,
      kid: k.kid,
    });
  });

  it('renders CSV per RFC 4180, neutralizes formulas in derived cells, and parses back', () => {
    const row: ExportRow = {
      position: 7,
      occurred_at: '2026-01-01T00:00:00.000Z',
      type: 'ApiKeyUsed',
      key_id: 'key_1',
      user_id: '-usr',
      workspace_id: null,
      actor_type: 'key',
      actor_id: '@evil',
      ip: '127.0.0.1',
      user_agent: '=HYPERLINK("http://x","a,b")\nnext',
      request_id: '+1',
      scheme: 'url',
      token_digest: null,
      prev_chain: '0'.repeat(64),
      chain: '1'.repeat(64),
      event: '{"data":{"a":"=1+2","q":"say \\"hi\\""}}',
    };
    const line = csvRecord(row);
    expect(line.endsWith('\r\n')).to.equal(true);
    expect(line.split('\n')).to.have.length(2); // one physical line per record
    const cells = parseCsvLine(line.slice(0, -2))!;
    expect(cells).to.have.length(16);
    expect(cells[4]).to.equal("'-usr");
    expect(cells[7]).to.equal("'@evil");
    expect(cells[9]).to.equal('\'=HYPERLINK("http://x","a,b")\\nnext');
    expect(cells[10]).to.equal("'+1");
    expect(cells[5]).to.equal('');
    expect(cells[15]).to.equal(row.event); // the hashed event cell is never altered
    expect(parseCsvLine('a,"b""c",d')).to.deep.equal(['a', 'b"c', 'd']);
    expect(parseCsvLine('a,"b')).to.equal(null);
    expect(parseCsvLine('a,b"c')).to.equal(null);
  });
  it('CSV pages concatenated by SQLite are byte for byte what the JS renderer writes, tricky cells included', async function () {
    this.timeout(20_000);
    // One tricky cell per page of PAGE_SIZE rows, in a rotating field: were SQLite to render it itself, that page would differ.
    // Then a page of cells that only need quoting, and two pages of plain cells (nulls, inner spaces and tabs, non-ASCII
    // inside), which SQLite concatenates itself.
    const tricky = [
      '=1+2',
      '+x',
      '-x',
      '@x',
      '\tx',
      'x\t',
      ' x',
      'x ',
      'a\r\nb',
      'a\nb',
      '\u00a0x',
      'x\u00a0',
      'x\u2028',
      'ü,"',
      '=',
      '\r',
    ];
    const quotable = [
      'a,b',
      'say "hi"',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
      '"',
      ',',
      "'x'",
    ];
    const plain = ['Mozilla/5.0 (X11; Linux x86_64)', 'a\tb', 'é', 'x=1', "'x'", 'key_ü', 'a+b-c@d'];
    const total = (tricky.length + 3) * PAGE_SIZE;
    const db = new AuditDb(':memory:');
    try {
      const events = Array.from({ length: total }, (_, i) => {
        const page = Math.floor(i / PAGE_SIZE);
        const odd =
          page < tricky.length
            ? i % PAGE_SIZE === 500
              ? tricky[page]!
              : null
            : i % 10 === 0
              ? (page === tricky.length ? quotable : plain)[(i / 10) % 6]!
              : null;
        const at = (field: number): string | null => (odd !== null && page % 5 === field ? odd : null);
        return {
          id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          streamId: `apikey-key_${i % 9}`,
          revision: i,
          position: i + 1,
          type: 'ApiKeyUsed',
          data: { keyId: at(0) ?? `key_${i % 9}`, count: 1, presentation: 'bearer', userId: at(1) ?? undefined },
          metadata: {
            eventId: `e${i}`,
            occurredAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
            actor: { type: 'key', id: at(2) ?? `key_${i % 9}` },
            request: { ip: at(3) ?? '10.0.0.1', userAgent: at(4) ?? 'curl/8.5.0', requestId: odd ?? `req_${i}` },
          },
        };
      });
      db.applyBatch(events);
      const chunks: Buffer[] = [];
      const totals = await writeRecords(
        new SqliteAuditStore(db),
        { filters: {}, scope: null, format: 'csv', toPosition: total },
        async (c) => void chunks.push(Buffer.from(c)),
      );
      const rows = db.db.prepare('SELECT * FROM audit_events ORDER BY position').all() as ExportRow[];
      expect(totals.count).to.equal(total);
      const got = Buffer.concat(chunks).toString('utf8').split('\r\n');
      const want = rows.map(csvRecord).join('').split('\r\n');
      for (let i = 0; i < want.length; i++) expect(got[i], `record ${i + 1}`).to.equal(want[i]);
      expect(want.join('\r\n')).to.include("'=1+2").and.include('"a,b"').and.include('a\\r\\nb'); // the guards did apply
    } finally {
      db.close();
    }
  });
});
