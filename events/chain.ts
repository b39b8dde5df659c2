// Tamper-evidence hash chain over the log in commit order. The byte layout is public (docs/canonical-bytes.md)
// so third parties can write their own verifier: change nothing here without a new chain version.
import { createHash } from 'node:crypto';

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
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no NaN or Infinity');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
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
      out[k] = { redacted: `sha256:${createHash('sha256').update(canonicalJson(v), 'utf8').digest('hex')}` };
    } else out[k] = redactSecrets(v);
  }
  return out;
}

/** UTF-8 of canonicalJson([eventId, streamId, revision, type, redactSecrets(data), redactSecrets(metadata)]). */
export function canonicalBytes(event: ChainedEvent): Buffer {
  return Buffer.from(canonicalJson([event.id, event.streamId, event.revision, event.type, redactSecrets(event.data), redactSecrets(event.metadata)]), 'utf8');
}

/** chain_n = SHA-256(chain_{n-1} as 32 raw bytes ‖ canonicalBytes(event_n)), hex. */
export function nextChain(previous: string, event: ChainedEvent): string {
  if (!/^[0-9a-f]{64}$/.test(previous)) throw new TypeError('previous chain value must be 64 lowercase hex chars');
  return createHash('sha256').update(Buffer.from(previous, 'hex')).update(canonicalBytes(event)).digest('hex');
}

/** What a LedgerCheckpointed signature covers: UTF-8 of canonicalJson({v, position, chain, at}). */
export function checkpointSigningInput(c: { position: number; chain: string; at: string }): Buffer {
  return Buffer.from(canonicalJson({ v: CHAIN_VERSION, position: c.position, chain: c.chain, at: c.at }), 'utf8');
}
