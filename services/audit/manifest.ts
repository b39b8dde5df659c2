// The signed manifest that closes an audit export: what was exported, up to where, and a digest of the exact bytes.
// Signature input is the UTF-8 of canonicalJson(manifest) (events/chain.ts), so any verifier can rebuild it.
import { createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { canonicalJson } from '../../events/chain.js';
import type { SigningKey } from '../crypto/key-material.js';
import type { AuditFilters } from './filters.js';

export const MANIFEST_VERSION = 1;

export type ExportFormat = 'jsonl' | 'csv';

/** The data of the newest LedgerCheckpointed event at or before the export's head. */
export interface CheckpointRef {
  readonly position: number;
  readonly chain: string;
  readonly at: string;
  readonly kid: string;
  readonly signature: string;
}

export interface ExportManifest {
  readonly version: number;
  readonly format: ExportFormat;
  readonly generatedAt: string;
  readonly filters: AuditFilters;
  /**
   * The workspaces the exporting caller's access limited the records to (events about them, key events included);
   * null: the whole ledger (a system admin). An export is complete, record linked to record, only when this is null
   * and there are no filters.
   */
  readonly scope: readonly string[] | null;
  /** Ledger positions the export covers (both inclusive) and the time window of the filters (null when open). */
  readonly range: { fromPosition: number; toPosition: number; from: string | null; to: string | null };
  readonly count: number;
  /** Chain values of the first and last record; null when the export is empty. */
  readonly firstChain: string | null;
  readonly lastChain: string | null;
  /** SHA-256 hex of the exact bytes of every record line, line endings included (not the CSV header, not the trailer). */
  readonly recordsSha256: string;
  /** The ledger's chain head at toPosition: ties even a filtered export to the whole log. */
  readonly head: { position: number; chain: string };
  readonly checkpoint: CheckpointRef | null;
  readonly kid: string;
}

export interface ManifestSignature {
  readonly alg: 'EdDSA';
  readonly kid: string;
  /** base64url Ed25519 signature over manifestSigningInput(manifest). */
  readonly value: string;
}

/** The JSONL trailer line and the CSV sidecar document. */
export interface SignedManifest {
  readonly manifest: ExportManifest;
  readonly signature: ManifestSignature;
}

export function manifestSigningInput(m: ExportManifest): Buffer {
  return Buffer.from(canonicalJson(m), 'utf8');
}

export function signManifest(m: ExportManifest, key: Pick<SigningKey, 'kid' | 'privateKey'>): SignedManifest {
  const value = sign(null, manifestSigningInput(m), key.privateKey).toString('base64url');
  return { manifest: m, signature: { alg: 'EdDSA', kid: key.kid, value } };
}

/** Public Ed25519 keys by kid: a JWK's own kid, else its RFC 7638 thumbprint (how the ledger names its key). */
export async function publicKeysByKid(keys: {
  jwks?: readonly JWK[];
  publicKeys?: readonly KeyObject[];
}): Promise<Map<string, KeyObject>> {
  const out = new Map<string, KeyObject>();
  for (const k of keys.jwks ?? []) {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: k as JsonWebKey, format: 'jwk' });
    } catch {
      continue; // not a usable public key (e.g. an RSA or symmetric entry): skip it
    }
    if (key.asymmetricKeyType !== 'ed25519') continue;
    out.set(typeof k.kid === 'string' ? k.kid : await calculateJwkThumbprint(await exportJWK(key)), key);
  }
  for (const k of keys.publicKeys ?? []) {
    const key = k.type === 'private' ? createPublicKey(k) : k;
    if (key.asymmetricKeyType !== 'ed25519') continue;
    out.set(await calculateJwkThumbprint(await exportJWK(key)), key);
  }
  return out;
}

export type SignatureCheck =
  { ok: true; kid: string } | { ok: false; code: 'BAD_SIGNATURE' | 'UNKNOWN_KID' | 'MISSING_MANIFEST'; reason: string };

const HEX64 = /^[0-9a-f]{64}$/;

function isHexOrNull(v: unknown): boolean {
  return v === null || (typeof v === 'string' && HEX64.test(v));
}

/** Shape check: a manifest we can rely on field by field once its signature holds. */
export function manifestShapeProblem(v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'manifest is not an object';
  const m = v as Record<string, unknown>;
  const r = m.range as Record<string, unknown> | null | undefined;
  const h = m.head as Record<string, unknown> | null | undefined;
  if (m.version !== MANIFEST_VERSION) return `unsupported manifest version ${JSON.stringify(m.version)}`;
  if (m.format !== 'jsonl' && m.format !== 'csv') return 'manifest format must be jsonl or csv';
  if (typeof m.filters !== 'object' || m.filters === null || Array.isArray(m.filters))
    return 'manifest filters must be an object';
  if (m.scope !== null && !(Array.isArray(m.scope) && m.scope.every((w) => typeof w === 'string')))
    return 'manifest scope must be null or a list of ids';
  if (typeof r !== 'object' || r === null || !Number.isInteger(r.fromPosition) || !Number.isInteger(r.toPosition))
    return 'manifest range is malformed';
  if (!Number.isInteger(m.count) || (m.count as number) < 0) return 'manifest count is malformed';
  if (!isHexOrNull(m.firstChain) || !isHexOrNull(m.lastChain)) return 'manifest firstChain/lastChain are malformed';
  if (typeof m.recordsSha256 !== 'string' || !HEX64.test(m.recordsSha256)) return 'manifest recordsSha256 is malformed';
  if (
    typeof h !== 'object' ||
    h === null ||
    !Number.isInteger(h.position) ||
    typeof h.chain !== 'string' ||
    !HEX64.test(h.chain)
  )
    return 'manifest head is malformed';
  if (typeof m.kid !== 'string') return 'manifest kid is malformed';
  return null;
}

/** Checks a parsed trailer/sidecar: shape, kid known, Ed25519 signature over the canonical manifest. */
export function checkSignedManifest(doc: unknown, keys: ReadonlyMap<string, KeyObject>): SignatureCheck {
  if (doc === null || typeof doc !== 'object' || !('manifest' in doc) || !('signature' in doc)) {
    return { ok: false, code: 'MISSING_MANIFEST', reason: 'no signed manifest {"manifest","signature"} found' };
  }
  const { manifest, signature } = doc;
  const shape = manifestShapeProblem(manifest);
  if (shape !== null) return { ok: false, code: 'BAD_SIGNATURE', reason: shape };
  const m = manifest as ExportManifest;
  const s = signature as Partial<ManifestSignature> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    s.alg !== 'EdDSA' ||
    typeof s.kid !== 'string' ||
    typeof s.value !== 'string'
  ) {
    return { ok: false, code: 'BAD_SIGNATURE', reason: 'signature must be {"alg":"EdDSA","kid","value"}' };
  }
  if (s.kid !== m.kid)
    return { ok: false, code: 'BAD_SIGNATURE', reason: 'signature kid differs from the manifest kid' };
  const key = keys.get(s.kid);
  if (key === undefined) return { ok: false, code: 'UNKNOWN_KID', reason: `no public key with kid ${s.kid}` };
  let good = false;
  try {
    good = verify(null, manifestSigningInput(m), key, Buffer.from(s.value, 'base64url'));
  } catch {
    good = false;
  }
  return good
    ? { ok: true, kid: s.kid }
    : { ok: false, code: 'BAD_SIGNATURE', reason: 'manifest signature does not verify' };
}
