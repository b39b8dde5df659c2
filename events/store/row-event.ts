// A recorded event decoded from a table row: its metadata is parsed on first use, since replaying the read model needs
// the data of every event but the metadata of few (ApiKeyUsed, nine in ten events, needs none).
import { StoreUnavailableError } from '../errors.js';
import type { RecordedEvent } from './types.js';

const VERSION_KEY = ',"schemaVersion":';
/** Members the time is looked for among: this ledger writes `eventId` first and `occurredAt` second. */
const LEADING_MEMBERS = 3;

export class RowEvent implements RecordedEvent {
  readonly data: unknown;
  private parsed: unknown = undefined;
  /** The schema version its data was upcast to; undefined while the data is as stored. */
  private upcastTo: number | undefined = undefined;

  constructor(
    readonly position: number,
    readonly id: string,
    readonly streamId: string,
    readonly revision: number,
    readonly type: string,
    data: string,
    private readonly metadataJson: string,
  ) {
    this.data = JSON.parse(data) as unknown;
  }

  /** The same event with its data upcast to `version`; the metadata stays as stored, and unparsed until read. */
  upcast(data: unknown, version: number): RowEvent {
    const r = new RowEvent(this.position, this.id, this.streamId, this.revision, this.type, 'null', this.metadataJson);
    (r as { data: unknown }).data = data;
    r.parsed = this.parsed;
    r.upcastTo = version;
    return r;
  }

  /** Refused as a read of the row would have been before: the store holds something this ledger did not write. */
  get metadata(): unknown {
    if (this.parsed === undefined) {
      try {
        this.parsed = JSON.parse(this.metadataJson) as unknown;
      } catch (err) {
        const what = `the metadata of the event at position ${this.position} (${this.id}) is not JSON`;
        throw new StoreUnavailableError(what, err, false);
      }
    }
    return this.parsed;
  }

  /** `metadata.schemaVersion` without parsing the metadata when this ledger wrote it (see `trailingSchemaVersion`). */
  get schemaVersion(): unknown {
    if (this.upcastTo !== undefined) return this.upcastTo;
    if (this.parsed !== undefined) return (this.parsed as { schemaVersion?: unknown }).schemaVersion;
    return trailingSchemaVersion(this.metadataJson) ?? (this.metadata as { schemaVersion?: unknown }).schemaVersion;
  }

  /** `metadata.occurredAt` without parsing the metadata when it leads it, as this ledger writes it (see `leadingString`). */
  get occurredAtText(): string {
    if (this.parsed === undefined) {
      const t = leadingString(this.metadataJson, 'occurredAt', LEADING_MEMBERS);
      if (t !== undefined) return t;
    }
    return (this.metadata as { occurredAt: string }).occurredAt;
  }

  /** JSON.stringify sees own fields only, and the metadata is a getter: this hands it the parsed metadata. */
  toJSON(): RecordedEvent {
    const { position, id, streamId, revision, type, data, metadata } = this;
    return { position, id, streamId, revision, type, data, metadata };
  }
}

/**
 * The schema version of metadata serialized compactly with `schemaVersion` as its last member, `…,"schemaVersion":2}`,
 * as this ledger writes it; undefined for any other text, which the caller then parses. Why the member found is the
 * top-level one: the final `}` closes the outermost object, so the number before it is that object's last value; and
 * inside a JSON string every `"` follows a backslash, so the `"` after the `,` opens the member's name. A linear scan.
 */
export function trailingSchemaVersion(json: string): number | undefined {
  const end = json.length - 1;
  if (end < VERSION_KEY.length + 1 || json.charCodeAt(end) !== 0x7d) return undefined;
  let i = end - 1;
  let value = 0;
  // At most 9 digits (a version is small); more, and the text is left to JSON.parse.
  for (let scale = 1; i > end - 10; i--, scale *= 10) {
    const c = json.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    value += (c - 0x30) * scale;
  }
  if (i === end - 1 || json.charCodeAt(i + 1) === 0x30) return undefined; // no digits, or a leading zero
  return json.startsWith(VERSION_KEY, i - VERSION_KEY.length + 1) ? value : undefined;
}

/**
 * The value of the member `name` when it is among the first `members` members of compact JSON and they all are strings
 * without escapes, `{"a":"…","name":"…",…`; undefined for any other text, which the caller then parses. Why it is the
 * value JSON.parse gives: with no backslash before its end, each string ends at its next `"`, so the members are read
 * exactly; and the name occurs nowhere after (a repeated member would win). Native scans only, linear.
 */
export function leadingString(json: string, name: string, members: number): string | undefined {
  if (json.charCodeAt(0) !== 0x7b) return undefined; // {
  const backslash = json.indexOf('\\');
  let at = 1;
  for (let m = 0; m < members; m++) {
    if (json.charCodeAt(at) !== 0x22) return undefined; // a member's name opens
    const nameEnd = json.indexOf('"', at + 1);
    // `"name":"`: the value is a string too
    if (nameEnd < 0 || json.charCodeAt(nameEnd + 1) !== 0x3a || json.charCodeAt(nameEnd + 2) !== 0x22) return undefined;
    const valueEnd = json.indexOf('"', nameEnd + 3);
    if (valueEnd < 0 || (backslash >= 0 && backslash < valueEnd)) return undefined;
    if (nameEnd - at - 1 === name.length && json.startsWith(name, at + 1)) {
      return json.includes(`"${name}"`, valueEnd + 1) ? undefined : json.slice(nameEnd + 3, valueEnd);
    }
    if (json.charCodeAt(valueEnd + 1) !== 0x2c) return undefined; // the next member follows
    at = valueEnd + 2;
  }
  return undefined;
}
