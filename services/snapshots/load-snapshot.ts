// Start from the newest valid snapshot: one taken from this very log (same first event, same event at its position,
// not beyond the head); anything else is ignored with a warning and the log is replayed from the start.
import { fromImage } from '../../projections/read-model/image.js';
import type { ReadModel } from '../../projections/read-model/read-model.js';
import { InvalidPositionError } from '../../events/errors.js';
import { START, type EventStore } from '../../events/store/types.js';
import {
  READ_MODEL_SNAPSHOT,
  readSnapshot,
  SnapshotRejected,
  type SnapshotHeader,
  type SnapshotImage,
  type SnapshotKind,
  type SnapshotPlace,
} from './snapshot-file.js';

export type SnapshotWarning = (msg: string, detail: { file: string; reason: string; detail: string }) => void;

/** Where in `store` a model at `position` stands, as a snapshot header records it. */
export async function placeIn(store: EventStore, position: number): Promise<SnapshotPlace | null> {
  if (position === START) return null;
  const first = await store.firstEventAtOrAfter(START);
  // EventStoreDB refuses a position that is no record of its log: not this log's place.
  const at = await store.firstEventAtOrAfter(position).catch((err: unknown) => {
    if (err instanceof InvalidPositionError) return null;
    throw err;
  });
  if (first === null || at === null || at.position !== position) return null;
  return { store: store.kind, position, eventId: at.id, firstEventId: first.id };
}

async function checkPlace(store: EventStore, h: SnapshotHeader): Promise<void> {
  if (h.store !== store.kind)
    throw new SnapshotRejected('foreign', `taken from a ${h.store} store, this is ${store.kind}`);
  const head = await store.headPosition();
  if (h.position > head) throw new SnapshotRejected('foreign', `position ${h.position} is beyond the head ${head}`);
  const place = await placeIn(store, h.position);
  if (place === null || place.firstEventId !== h.firstEventId)
    throw new SnapshotRejected('foreign', 'taken from another ledger (its first event differs)');
  if (place.eventId !== h.eventId)
    throw new SnapshotRejected('foreign', `the log holds another event at position ${h.position}`);
}

/** The model a valid snapshot holds, or null (none, or one ignored with `warn`). Store failures propagate. */
export function loadSnapshot(store: EventStore, file: string, warn: SnapshotWarning): Promise<ReadModel | null> {
  return loadImage(store, file, READ_MODEL_SNAPSHOT, fromImage, warn);
}

/**
 * What a valid snapshot file of `kind` holds, rebuilt by `restore` (which throws on an inconsistent image), or null:
 * none, or one ignored with `warn` (corrupt, another version, another log, unreadable). Store failures propagate.
 */
export async function loadImage<I extends SnapshotImage, T>(
  store: EventStore,
  file: string,
  kind: SnapshotKind,
  restore: (image: I) => T,
  warn: SnapshotWarning,
): Promise<T | null> {
  const ignored = `ignoring the ${kind.label} snapshot; replaying the log`;
  try {
    const found = readSnapshot<I>(file, kind);
    if (found === null) return null;
    await checkPlace(store, found.header);
    try {
      return restore(found.image);
    } catch (err) {
      throw new SnapshotRejected('corrupt', (err as Error).message);
    }
  } catch (err) {
    if (!(err instanceof SnapshotRejected)) {
      const code = (err as NodeJS.ErrnoException).code;
      // An unreadable file is a snapshot we cannot use, not a reason to refuse to start.
      if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) throw err;
      warn(ignored, { file, reason: 'unreadable', detail: code });
      return null;
    }
    warn(ignored, { file, reason: err.reason, detail: err.message });
    return null;
  }
}
