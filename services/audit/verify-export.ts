// Offline verification of an audit export against the ledger's public key: signed manifest, per-record chain,
// linkage, order, count and a digest of the exact bytes. Streams the file line by line: memory stays flat at any size.
import { createHash, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { JWK } from 'jose';
import { checkpointSigningInput } from '../../events/chain.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { flatten } from '../../projections/audit/flatten.js';
import { selectsEverything } from './filters.js';
import { CSV_COLUMNS, CSV_HEADER, csvRecord, parseCsvLine } from '../../projections/audit/row.js';
import { checkSignedManifest, publicKeysByKid, type ExportFormat, type ExportManifest } from './manifest.js';

export type ExportFailureCode =
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_KID'
  | 'MISSING_MANIFEST'
  | 'MALFORMED_RECORD'
  | 'CHAIN_MISMATCH'
  | 'BROKEN_LINK'
  | 'OUT_OF_ORDER'
  | 'COUNT_MISMATCH'
  | 'DIGEST_MISMATCH';

export interface ExportVerification {
  readonly ok: boolean;
  readonly records: number;
  readonly kid?: string;
  /** The first problem: `record` is 1-based (0 = the file as a whole: manifest, header, digest). */
  readonly failure?: { record: number; position: number | null; code: string; reason: string };
}

/** Longest record line we accept; keeps memory bounded on a hostile file. */
const MAX_LINE = 16 * 1024 * 1024;
/** Longest trailer / sidecar manifest. */
const MAX_MANIFEST = 1024 * 1024;
const HEX64 = /^[0-9a-f]{64}$/;

class Failure extends Error {
  constructor(
    readonly record: number,
    readonly position: number | null,
    readonly code: ExportFailureCode,
    reason: string,
  ) {
    super(reason);
  }
}

/** Finds the JSONL trailer: the last line of the file. Reads backwards in blocks, never more than MAX_MANIFEST. */
async function readTrailer(file: string, size: number): Promise<{ start: number; text: string } | null> {
  const fh = await open(file, 'r');
  try {
    let end = size;
    if (end > 0) {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, end - 1);
      if (b[0] === 0x0a) end--; // the trailer's own line ending
    }
    const block = 64 * 1024;
    let from = end;
    let tail = Buffer.alloc(0);
    while (from > 0 && end - from < MAX_MANIFEST) {
      const n = Math.min(block, from);
      const buf = Buffer.alloc(n);
      await fh.read(buf, 0, n, from - n);
      from -= n;
      tail = Buffer.concat([buf, tail]);
      const nl = tail.lastIndexOf(0x0a);
      if (nl !== -1) return { start: from + nl + 1, text: tail.subarray(nl + 1).toString('utf8') };
    }
    return from === 0 ? { start: 0, text: tail.toString('utf8') } : null;
  } finally {
    await fh.close();
  }
}

async function startsWith(file: string, prefix: string): Promise<boolean> {
  const want = Buffer.from(prefix, 'utf8');
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(want.length);
    const { bytesRead } = await fh.read(buf, 0, want.length, 0);
    return bytesRead === want.length && buf.equals(want);
  } finally {
    await fh.close();
  }
}

/** Yields the lines (without '\n') of bytes [start, end) and hashes those exact bytes on the way. */
async function* lines(
  file: string,
  start: number,
  end: number,
  hash: ReturnType<typeof createHash>,
  record: () => number,
): AsyncGenerator<Buffer> {
  if (end <= start) return;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  for await (const chunk of createReadStream(file, {
    start,
    end: end - 1,
    highWaterMark: 1024 * 1024,
  }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl === -1) break;
      const piece = chunk.subarray(from, nl);
      if (pendingLen === 0) yield piece;
      else {
        pending.push(piece);
        yield Buffer.concat(pending);
        pending = [];
        pendingLen = 0;
      }
      from = nl + 1;
    }
    if (from < chunk.length) {
      pending.push(chunk.subarray(from));
      pendingLen += chunk.length - from;
      if (pendingLen > MAX_LINE) throw new Failure(record() + 1, null, 'MALFORMED_RECORD', 'line too long');
    }
  }
  if (pendingLen > 0)
    throw new Failure(record() + 1, null, 'MALFORMED_RECORD', 'the last record line has no line ending');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

interface ParsedRecord {
  position: number;
  prevChain: string;
  chain: string;
  event: Record<string, unknown>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseRecord(format: ExportFormat, line: string, n: number): ParsedRecord {
  const malformed = (reason: string, position: number | null = null): Failure =>
    new Failure(n, position, 'MALFORMED_RECORD', reason);
  let position: unknown, prevChain: unknown, chain: unknown, event: unknown;
  if (format === 'jsonl') {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw malformed('not a JSON line');
    }
    if (!isObject(v)) throw malformed('not a JSON object');
    ({ position, prevChain, chain, event } = v);
  } else {
    if (!line.endsWith('\r')) throw malformed('a CSV record must end with CRLF');
    const cells = parseCsvLine(line.slice(0, -1));
    if (cells === null || cells.length !== CSV_COLUMNS.length)
      throw malformed(`not a CSV record of ${CSV_COLUMNS.length} cells`);
    position = /^(0|[1-9][0-9]{0,15})$/.test(cells[0]!) ? Number(cells[0]) : cells[0];
    prevChain = cells[13];
    chain = cells[14];
    try {
      event = JSON.parse(cells[15]!);
    } catch {
      event = undefined;
    }
  }
  if (!Number.isSafeInteger(position)) throw malformed('position is not an integer');
  const pos = position as number;
  if (typeof prevChain !== 'string' || !HEX64.test(prevChain) || typeof chain !== 'string' || !HEX64.test(chain)) {
    throw malformed('prevChain/chain must be 64 lowercase hex characters', pos);
  }
  if (!isObject(event)) throw malformed('event is not a JSON object', pos);
  const e = event;
  if (
    typeof e.id !== 'string' ||
    typeof e.streamId !== 'string' ||
    !Number.isSafeInteger(e.revision) ||
    typeof e.type !== 'string'
  ) {
    throw malformed('event lacks id, streamId, revision or type', pos);
  }
  if (e.position !== pos) throw malformed('event.position differs from the record position', pos);
  return { position: pos, prevChain, chain, event: e };
}

/** Names the first CSV cell that differs from what its event implies (derived cells are recomputed, never trusted). */
function differingCell(format: ExportFormat, canonical: string, line: string): string {
  if (format !== 'csv') return ' (an edited or re-encoded field)';
  const want = parseCsvLine(canonical.slice(0, -1)) ?? [];
  const got = parseCsvLine(line.slice(0, -1)) ?? [];
  const i = want.findIndex((w, j) => w !== got[j]);
  return i === -1 ? ' (quoting)' : ` (column ${CSV_COLUMNS[i]} does not match the event)`;
}

/** Loads and checks the signed manifest; throws a Failure (record 0) when it cannot be trusted. */
async function loadManifest(
  file: string,
  keys: ReadonlyMap<string, KeyObject>,
  manifestFile: string | undefined,
): Promise<{ format: ExportFormat; manifest: ExportManifest; kid: string; start: number; end: number }> {
  const size = (await stat(file)).size;
  const csv = await startsWith(file, CSV_COLUMNS.slice(0, 2).join(','));
  let doc: unknown;
  let start = 0;
  let end = size;
  if (csv) {
    if (!(await startsWith(file, CSV_HEADER)))
      throw new Failure(0, null, 'MALFORMED_RECORD', 'the CSV header is not the export header');
    start = Buffer.byteLength(CSV_HEADER);
    const sidecar = manifestFile ?? `${file}.manifest.json`;
    const text = await readFile(sidecar, 'utf8').catch(() => null);
    if (text === null) throw new Failure(0, null, 'MISSING_MANIFEST', `no sidecar manifest at ${sidecar}`);
    if (text.length > MAX_MANIFEST) throw new Failure(0, null, 'MISSING_MANIFEST', 'the sidecar manifest is too large');
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Failure(0, null, 'MISSING_MANIFEST', 'the sidecar manifest is not JSON');
    }
  } else {
    const trailer = await readTrailer(file, size);
    if (trailer === null)
      throw new Failure(0, null, 'MISSING_MANIFEST', 'no manifest line at the end of the file (truncated?)');
    try {
      doc = JSON.parse(trailer.text);
    } catch {
      throw new Failure(0, null, 'MISSING_MANIFEST', 'the last line is not a manifest (truncated?)');
    }
    end = trailer.start;
  }
  const checked = checkSignedManifest(doc, keys);
  if (!checked.ok) throw new Failure(0, null, checked.code, checked.reason);
  const manifest = (doc as { manifest: ExportManifest }).manifest;
  const format: ExportFormat = csv ? 'csv' : 'jsonl';
  if (manifest.format !== format)
    throw new Failure(
      0,
      null,
      'DIGEST_MISMATCH',
      `the manifest describes a ${manifest.format} export, the file is ${format}`,
    );
  const cp = manifest.checkpoint;
  const cpKey = cp ? keys.get(cp.kid) : undefined;
  if (cp && cpKey) {
    let good = false;
    try {
      good = verify(null, checkpointSigningInput(cp), cpKey, Buffer.from(cp.signature, 'base64url'));
    } catch {
      good = false;
    }
    if (!good)
      throw new Failure(0, null, 'BAD_SIGNATURE', `the ledger checkpoint at position ${cp.position} does not verify`);
  }
  return { format, manifest, kid: checked.kid, start, end };
}

/** Verifies a JSONL export (signed trailer line) or a CSV export with its sidecar manifest (default `<file>.manifest.json`). */
export async function verifyExportFile(
  file: string,
  keys: { jwks?: JWK[]; publicKeys?: KeyObject[]; manifestFile?: string },
): Promise<ExportVerification> {
  let n = 0;
  try {
    const keyMap = await publicKeysByKid(keys);
    const { format, manifest: m, kid, start, end } = await loadManifest(file, keyMap, keys.manifestFile);
    const linked = selectsEverything(m.filters, m.scope);
    const render =
      format === 'jsonl'
        ? (r: ReturnType<typeof flatten>) => r.line.slice(0, -1)
        : (r: ReturnType<typeof flatten>) => csvRecord(r).slice(0, -1);
    const hash = createHash('sha256');
    let firstChain: string | null = null;
    let lastChain: string | null = null;
    let lastPosition: number | null = null;
    for await (const raw of lines(file, start, end, hash, () => n)) {
      n++;
      let line: string;
      try {
        line = utf8.decode(raw);
      } catch {
        throw new Failure(n, null, 'MALFORMED_RECORD', 'not valid UTF-8');
      }
      const r = parseRecord(format, line, n);
      const fail = (code: ExportFailureCode, reason: string): Failure => new Failure(n, r.position, code, reason);
      if (n > m.count) throw fail('COUNT_MISMATCH', `more records than the manifest's count ${m.count}`);
      if (lastPosition !== null && r.position <= lastPosition)
        throw fail('OUT_OF_ORDER', `position ${r.position} after ${lastPosition}`);
      if (r.position < m.range.fromPosition || r.position > m.range.toPosition) {
        throw fail(
          'OUT_OF_ORDER',
          `position ${r.position} outside the range ${m.range.fromPosition}..${m.range.toPosition}`,
        );
      }
      const e = r.event;
      const recorded = {
        id: e.id,
        streamId: e.streamId,
        revision: e.revision,
        position: r.position,
        type: e.type,
        data: e.data,
        metadata: e.metadata,
      } as RecordedEvent;
      let row: ReturnType<typeof flatten>;
      try {
        row = flatten(recorded, r.prevChain); // the same chain and rendering the ledger and exporter use
      } catch (err) {
        throw fail('MALFORMED_RECORD', `event cannot be hashed: ${(err as Error).message}`);
      }
      if (row.chain !== r.chain)
        throw fail('CHAIN_MISMATCH', 'chain ≠ sha256(prevChain ‖ canonicalBytes(event)): the record was altered');
      if (linked && lastChain !== null && r.prevChain !== lastChain)
        throw fail('BROKEN_LINK', 'prevChain is not the previous record’s chain: a record is missing, added or moved');
      if (m.checkpoint && r.position === m.checkpoint.position && r.chain !== m.checkpoint.chain)
        throw fail('CHAIN_MISMATCH', 'chain differs from the signed ledger checkpoint');
      if (r.position === m.head.position && r.chain !== m.head.chain)
        throw fail('CHAIN_MISMATCH', 'chain differs from the manifest head');
      const canonical = render(row);
      if (canonical !== line)
        throw fail(
          'MALFORMED_RECORD',
          `record bytes differ from the canonical rendering of its event${differingCell(format, canonical, line)}`,
        );
      firstChain ??= r.chain;
      lastChain = r.chain;
      lastPosition = r.position;
    }
    if (n < m.count)
      throw new Failure(
        n + 1,
        null,
        'COUNT_MISMATCH',
        `${n} records, the manifest says ${m.count}: records are missing`,
      );
    if (firstChain !== m.firstChain)
      throw new Failure(1, null, 'DIGEST_MISMATCH', 'the first record’s chain is not the manifest’s firstChain');
    if (lastChain !== m.lastChain)
      throw new Failure(n, lastPosition, 'DIGEST_MISMATCH', 'the last record’s chain is not the manifest’s lastChain');
    if (hash.digest('hex') !== m.recordsSha256)
      throw new Failure(0, null, 'DIGEST_MISMATCH', 'SHA-256 of the record bytes differs from recordsSha256');
    if (linked && lastPosition === m.head.position && lastChain !== m.head.chain) {
      throw new Failure(n, lastPosition, 'BROKEN_LINK', 'the last record does not reach the manifest head');
    }
    return { ok: true, records: n, kid };
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    return {
      ok: false,
      records: n,
      failure: { record: err.record, position: err.position, code: err.code, reason: err.message },
    };
  }
}
