// PLACEHOLDER (owned by the export work): offline verification of an audit export against the ledger's public key.
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

export interface ExportVerification {
  readonly ok: boolean;
  readonly records: number;
  readonly kid?: string;
  readonly failure?: { record: number; position: number | null; code: string; reason: string };
}

export function verifyExportFile(_file: string, _keys: { jwks?: JWK[]; publicKeys?: KeyObject[]; manifestFile?: string }): Promise<ExportVerification> {
  return Promise.reject(new Error('not implemented'));
}
