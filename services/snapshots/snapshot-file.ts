// One snapshot file (the read model's, or the revocation feed's): a header line (what it is, where in which log it was taken, a SHA-256 of the body),
// then the image as JSON. Written to a temporary file, fsynced, renamed over the old one: never half a snapshot.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IMAGE_VERSION, type ReadModelImage } from '../../projections/read-model/image.js';
import { secureDataDir } from '../../events/store/data-dir.js';
import { FEED_IMAGE_VERSION } from '../../projections/revocations/feed-state.js';

/** What a snapshot file holds: its format line and the version of the image layout this build reads. */
export interface SnapshotKind {
  /** Said in warnings: "ignoring the <label> snapshot". */
  readonly label: string;
  readonly format: string;
  readonly version: number;
}

export const READ_MODEL_SNAPSHOT: SnapshotKind = {
  label: 'read-model',
  format: 'token-ledger read-model snapshot',
  version: IMAGE_VERSION,
};

export const REVOCATION_FEED_SNAPSHOT: SnapshotKind = {
  label: 'revocation-feed',
  format: 'token-ledger revocation-feed snapshot',
  version: FEED_IMAGE_VERSION,
};

/** Every image carries its layout version and the position it was taken at. */
export interface SnapshotImage {
  readonly v: number;
  readonly position: number;
}

export interface SnapshotHeader {
  readonly format: string;
  readonly version: number;
  /** The store kind it was taken from (sqlite, postgres, esdb). */
  readonly store: string;
  /** The last position applied, and the id of the event there: the log at that position must still hold it. */
  readonly position: number;
  readonly eventId: string;
  /** The id of the log's first event: which ledger this is. */
  readonly firstEventId: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly writtenAt: string;
}

export type SnapshotPlace = Pick<SnapshotHeader, 'store' | 'position' | 'eventId' | 'firstEventId'>;

/** Why a snapshot file was not used. */
export class SnapshotRejected extends Error {
  override name = 'SnapshotRejected';
  constructor(
    readonly reason: 'corrupt' | 'stale_version' | 'foreign',
    detail: string,
  ) {
    super(detail);
  }
}

export function snapshotFile(dataDir: string): string {
  return join(dataDir, 'read-model.snapshot');
}

export function feedSnapshotFile(dataDir: string): string {
  return join(dataDir, 'revocation-feed.snapshot');
}

/** Writes atomically, mode 0600: tmp file, fsync, rename, fsync of the folder. Returns the bytes written. */
export function writeSnapshot(
  file: string,
  place: SnapshotPlace,
  image: SnapshotImage,
  kind: SnapshotKind = READ_MODEL_SNAPSHOT,
): number {
  const body = Buffer.from(JSON.stringify(image));
  const header: SnapshotHeader = {
    format: kind.format,
    version: kind.version,
    ...place,
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    writtenAt: new Date().toISOString(),
  };
  const dir = dirname(file);
  secureDataDir(dir);
  const tmp = `${file}.tmp`; // one writer per data folder at a time
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(header)}\n`);
    for (let at = 0; at < body.length;) at += writeSync(fd, body, at);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return body.length;
}

/** Reads and checks a snapshot file (format, version, length, checksum); null when there is none. */
export function readSnapshot<I extends SnapshotImage = ReadModelImage>(
  file: string,
  kind: SnapshotKind = READ_MODEL_SNAPSHOT,
): { header: SnapshotHeader; image: I } | null {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const nl = buf.indexOf(10);
  if (nl < 0) throw new SnapshotRejected('corrupt', 'no header line');
  let header: SnapshotHeader;
  try {
    header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as SnapshotHeader;
  } catch {
    throw new SnapshotRejected('corrupt', 'the header is not JSON');
  }
  if (header === null || typeof header !== 'object' || header.format !== kind.format)
    throw new SnapshotRejected('corrupt', `not a ${kind.label} snapshot`);
  if (header.version !== kind.version)
    throw new SnapshotRejected('stale_version', `version ${String(header.version)}, this build reads ${kind.version}`);
  const body = buf.subarray(nl + 1);
  if (body.length !== header.bytes)
    throw new SnapshotRejected('corrupt', `${body.length} bytes, header says ${header.bytes}`);
  if (createHash('sha256').update(body).digest('hex') !== header.sha256)
    throw new SnapshotRejected('corrupt', 'checksum mismatch');
  let image: I;
  try {
    image = JSON.parse(body.toString('utf8')) as I;
  } catch {
    throw new SnapshotRejected('corrupt', 'the body is not JSON');
  }
  if (image?.v !== kind.version || image.position !== header.position)
    throw new SnapshotRejected('corrupt', 'the body does not match its header');
  return { header, image };
}
