// Tamper-evidence hash chain over the log in commit order. The byte layout is public (docs/canonical-bytes.md)
// so third parties can write their own verifier: change nothing here without a new chain version.
import { hash } from 'node:crypto';

export const CHAIN_VERSION = 1;
/** chain_0: 32 zero bytes, hex. */
export const GENESIS_CHAIN = '0'.repeat(64);

/** The parts of a stored event the chain covers; store positions are not covered, so a copy to another store keeps its chain. */
export interface ChainedEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
}

/**
 * Canonical JSON (the RFC 8785 subset our events use): no whitespace, object keys sorted by UTF-16 code units,
 * strings and numbers as ECMAScript JSON.stringify writes them, `undefined` members omitted.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, false);
}

/** canonicalJson(redactSecrets(value)) in one pass, without building the redacted copy. */
export function canonicalRedacted(value: unknown): string {
  return canonical(value, true);
}

function canonical(value: unknown, redact: boolean): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quoted(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no NaN or Infinity');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          out += `${i === 0 ? '' : ','}${v === undefined ? 'null' : canonical(v, redact)}`;
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = sortedKeys(obj);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = obj[k];
        if (v === undefined) continue;
        const text =
          redact && v !== null && SECRET_FIELDS.includes(k) && !isRedacted(v)
            ? redactionMarker(v)
            : canonical(v, redact);
        out += `${out.length === 1 ? '' : ','}${quoted(k)}:${text}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

/** JSON.stringify(s): the string as is between quotes when nothing in it needs escaping, the common case. */
function quoted(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Control chars, `"`, `\` and surrogates (a lone one is escaped) are left to JSON.stringify.
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** Keys sorted by UTF-16 code units, as sort() does; small objects (every event's) by insertion, far cheaper here. */
function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > k; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = k;
  }
  return keys;
}

/** {"redacted":"sha256:<hex of the secret's canonical JSON>"}, canonical. */
function redactionMarker(secret: unknown): string {
  return `{"redacted":"sha256:${hash('sha256', canonicalJson(secret), 'hex')}"}`;
}

/** Fields that hold secret material (sealed tokens, password hashes); the chain covers only their digest. */
export const SECRET_FIELDS: readonly string[] = ['sealed', 'passwordHash'];
const REDACTED_RE = /^sha256:[0-9a-f]{64}$/;

function isRedacted(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === 'redacted' && REDACTED_RE.test(String((v as { redacted: unknown }).redacted));
}

/**
 * Replaces every non-null SECRET_FIELDS member, at any depth, by {"redacted":"sha256:<hex of its canonical JSON>"}.
 * Idempotent, so a verifier can rebuild the chain from an audit export, which never holds the secret itself.
 */
export function redactSecrets(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(redactSecrets);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_FIELDS.includes(k) && v !== null && v !== undefined && !isRedacted(v)) {
      out[k] = { redacted: `sha256:${hash('sha256', canonicalJson(v), 'hex')}` };
    } else out[k] = redactSecrets(v);
  }
  return out;
}

/** An event's redacted data and metadata as canonical JSON text: computed once, shared by the chain and the audit copy. */
export interface CanonicalEvent {
  readonly id: string;
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
}

export function canonicalEvent(event: ChainedEvent): CanonicalEvent {
  return {
    id: event.id,
    streamId: event.streamId,
    revision: event.revision,
    type: event.type,
    data: canonicalRedacted(event.data),
    metadata: canonicalRedacted(event.metadata),
  };
}

/** canonicalJson([id, streamId, revision, type, data, metadata]) from parts already canonical. */
function canonicalText(c: CanonicalEvent): string {
  return `[${JSON.stringify(c.id)},${JSON.stringify(c.streamId)},${canonicalJson(c.revision)},${JSON.stringify(c.type)},${c.data},${c.metadata}]`;
}

/** UTF-8 of canonicalJson([eventId, streamId, revision, type, redactSecrets(data), redactSecrets(metadata)]). */
export function canonicalBytes(event: ChainedEvent): Buffer {
  return Buffer.from(canonicalText(canonicalEvent(event)), 'utf8');
}

/** chain_n = SHA-256(chain_{n-1} as 32 raw bytes ‖ canonicalBytes(event_n)), hex. */
export function nextChain(previous: string, event: ChainedEvent): string {
  return nextChainCanonical(previous, canonicalEvent(event));
}

/** nextChain over an event already in canonical parts (the audit projection canonicalizes each event once). */
export function nextChainCanonical(previous: string, c: CanonicalEvent): string {
  if (!/^[0-9a-f]{64}$/.test(previous)) throw new TypeError('previous chain value must be 64 lowercase hex chars');
  const text = canonicalText(c);
  const input = Buffer.allocUnsafe(32 + Buffer.byteLength(text, 'utf8'));
  input.write(previous, 0, 32, 'hex');
  input.write(text, 32, 'utf8');
  return hash('sha256', input, 'hex'); // one shot: no Hash object per event
}

/** What a LedgerCheckpointed signature covers: UTF-8 of canonicalJson({v, position, chain, at}). */
export function checkpointSigningInput(c: { position: number; chain: string; at: string }): Buffer {
  return Buffer.from(canonicalJson({ v: CHAIN_VERSION, position: c.position, chain: c.chain, at: c.at }), 'utf8');
}
