// Checks an audit export in the page: the manifest's Ed25519 signature against the service's JWKS (jose imports the
// key, WebCrypto verifies), then the record count, first/last chain and SHA-256 of the exact record bytes.
// The per-record hash chain is left to the offline verifier (`token-ledger audit verify-export`).
import canonicalize from 'canonicalize';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';

export interface SignedManifest {
  manifest: {
    format: 'jsonl' | 'csv';
    count: number;
    firstChain: string | null;
    lastChain: string | null;
    recordsSha256: string;
    kid: string;
    range: { fromPosition: number; toPosition: number };
  };
  signature: { alg: string; kid: string; value: string };
}

export interface Verdict {
  ok: boolean;
  summary: string;
}

const text = new TextEncoder();

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export async function sha256Hex(data: BufferSource): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', data));
}

function fromBase64Url(s: string): Uint8Array<ArrayBuffer> {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
  return out;
}

async function keyFor(jwks: JWK[], kid: string): Promise<JWK | undefined> {
  for (const k of jwks) if ((k.kid ?? (await calculateJwkThumbprint(k))) === kid) return k;
  return undefined;
}

/** Splits a JSONL export into its record bytes and its trailer (the last line). */
export function splitJsonl(bytes: Uint8Array): { records: Uint8Array<ArrayBuffer>; trailer: string } {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  const nl = bytes.lastIndexOf(0x0a, end - 1);
  return {
    records: bytes.slice(0, nl + 1),
    trailer: new TextDecoder().decode(bytes.subarray(nl + 1, end)),
  };
}

/** Drops the CSV header line: the manifest covers the record lines only. */
export function csvRecords(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.slice(bytes.indexOf(0x0a) + 1);
}

function lines(records: Uint8Array): string[] {
  const all = new TextDecoder().decode(records).split('\n');
  all.pop();
  return all;
}

function chainOf(line: string, format: 'jsonl' | 'csv'): string | null {
  if (format === 'jsonl') return (JSON.parse(line) as { chain?: string }).chain ?? null;
  // CSV: …,prev_chain,chain,"{event JSON}" — the two hex cells right before the quoted event.
  return /,([0-9a-f]{64}),([0-9a-f]{64}),"\{/.exec(line)?.[2] ?? null;
}

export async function verifyExport(
  records: Uint8Array<ArrayBuffer>,
  signed: SignedManifest,
  jwks: JWK[],
): Promise<Verdict> {
  const m = signed.manifest;
  const sig = signed.signature;
  if (sig.alg !== 'EdDSA') return { ok: false, summary: `Unexpected signature algorithm ${sig.alg}.` };
  const jwk = await keyFor(jwks, sig.kid);
  if (!jwk) return { ok: false, summary: `No key ${sig.kid} in the service's JWKS.` };
  const key = await importJWK({ ...jwk, alg: 'EdDSA' }, 'EdDSA');
  if (!(key instanceof CryptoKey)) return { ok: false, summary: 'The JWKS key is not a public key.' };
  const signingInput = text.encode(canonicalize(m) ?? '');
  const good = await crypto.subtle.verify({ name: 'Ed25519' }, key, fromBase64Url(sig.value), signingInput);
  if (!good)
    return { ok: false, summary: 'The manifest signature does not verify: it was altered or not signed here.' };
  if ((await sha256Hex(records)) !== m.recordsSha256)
    return { ok: false, summary: 'The records differ from the manifest’s SHA-256 digest.' };
  const ls = lines(records);
  if (ls.length !== m.count) return { ok: false, summary: `${ls.length} records, the manifest says ${m.count}.` };
  const first = ls.length === 0 ? null : chainOf(ls[0]!, m.format);
  const last = ls.length === 0 ? null : chainOf(ls[ls.length - 1]!, m.format);
  if (first !== m.firstChain || last !== m.lastChain)
    return { ok: false, summary: 'The first or last record’s chain differs from the manifest.' };
  return {
    ok: true,
    summary: `Manifest verified: signed by key ${sig.kid}; ${m.count} records up to position ${m.range.toPosition}; SHA-256 digest and chain ends match.`,
  };
}
