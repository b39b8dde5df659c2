// What the revocation feed holds: its items (every revocation-class CloudEvent so far, in log order), the fan-out index
// that derives them, and the position they reflect; pure, so the snapshot worker builds the same state the feed does,
// and a snapshot of it lets a start catch up from there instead of replaying the whole log.
import type { RevocationEvent } from '../../clients/protocol.js';
import { toStoredEvent } from '../../events/serialization.js';
import { START, type RecordedEvent } from '../../events/store/types.js';
import { DEFAULT_SOURCE, revocationCloudEvents } from './cloudevents.js';
import { RevocationIndex, type IndexImage } from './fanout.js';

/** Bump on any change to the image layout or to how items are derived: other versions are ignored and the log replayed. */
export const FEED_IMAGE_VERSION = 1;

export interface FeedItem {
  readonly position: number;
  readonly index: number;
  readonly cursor: string;
  readonly event: RevocationEvent;
  /** The CloudEvent as JSON, serialized once. */
  readonly json: string;
}

export interface FeedImage {
  readonly v: typeof FEED_IMAGE_VERSION;
  readonly position: number;
  readonly index: IndexImage;
  /** Each item's CloudEvent; its `source` is replaced by the configured one at load. */
  readonly items: Array<[position: number, index: number, event: RevocationEvent]>;
}

export class FeedState {
  readonly items: FeedItem[] = [];
  /** Last ledger position applied. */
  position = START;

  constructor(
    private readonly source = DEFAULT_SOURCE,
    private readonly index = new RevocationIndex(),
  ) {}

  /** Applies one recorded event (ignored when at or before `position`: replay is idempotent); returns the items it added. */
  apply(r: RecordedEvent): number {
    if (r.position <= this.position) return 0;
    this.position = r.position;
    const e = toStoredEvent(r);
    if (e === null) return 0;
    const events = revocationCloudEvents(e, this.index.apply(e), this.source);
    events.forEach((event, index) =>
      this.items.push({ position: r.position, index, cursor: event.ledgercursor, event, json: JSON.stringify(event) }),
    );
    return events.length;
  }

  toImage(): FeedImage {
    return {
      v: FEED_IMAGE_VERSION,
      position: this.position,
      index: this.index.toImage(),
      items: this.items.map((it) => [it.position, it.index, it.event]),
    };
  }

  /** The state an image holds, its items re-sourced to `source`; a malformed image is a TypeError. */
  static fromImage(img: FeedImage, source = DEFAULT_SOURCE): FeedState {
    if (img.v !== FEED_IMAGE_VERSION) throw new TypeError(`revocation-feed image version ${String(img.v)}`);
    if (!Number.isSafeInteger(img.position) || !Array.isArray(img.items))
      throw new TypeError('revocation-feed image: malformed');
    const state = new FeedState(source, RevocationIndex.fromImage(img.index));
    state.position = img.position;
    let last = { position: START, index: -1 };
    for (const row of img.items) {
      const [position, index, event] = row;
      if (!Number.isSafeInteger(position) || !Number.isSafeInteger(index) || !isRevocationEvent(event))
        throw new TypeError('revocation-feed image: a malformed item');
      if (position > img.position || position < last.position || (position === last.position && index <= last.index))
        throw new TypeError('revocation-feed image: items out of order');
      last = { position, index };
      // In place: the parsed object keeps the member order the feed serialized, so the JSON matches a live build.
      (event as { source: string }).source = source;
      state.items.push({ position, index, cursor: event.ledgercursor, event, json: JSON.stringify(event) });
    }
    return state;
  }
}

function isRevocationEvent(v: unknown): v is RevocationEvent {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Partial<Record<keyof RevocationEvent, unknown>>;
  return (
    typeof e.ledgercursor === 'string' && typeof e.id === 'string' && e.data !== null && typeof e.data === 'object'
  );
}
