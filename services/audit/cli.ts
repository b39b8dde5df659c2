// `token-ledger audit verify`: checks the whole store (chain, signed checkpoints, audit witness) or an export file.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { streams } from '../../events/catalog.js';
import type { EventStore } from '../../events/store/types.js';
import type { AuditWitness } from '../../projections/audit/store.js';
import type { Config } from '../config.js';
import { loadMasterKey, loadSigningKey } from '../crypto/key-material.js';
import { Sealer } from '../crypto/sealing.js';
import { sharedSigningKey } from '../crypto/shared-keys.js';
import { randomIds } from '../ids.js';
import { parseCommand, UsageError } from '../cli/args.js';
import { out, type Command } from '../cli/command.js';
import { progressBar } from '../cli/progress.js';
import { isSharedStore, ledgerExists, openStore } from '../open-ledger.js';
import { auditDbFile } from './plugin.js';
import { verifyExportFile } from './verify-export.js';
import { keysByKid, verifyStore } from './verify-store.js';

/** A JWKS file ({"keys":[…]}), a bare JWK array, or one JWK. */
function readJwks(file: string): JWK[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`audit verify: --jwks ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const keys: unknown = Array.isArray(parsed)
    ? parsed
    : parsed && typeof parsed === 'object' && 'keys' in parsed
      ? parsed.keys
      : [parsed];
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => k !== null && typeof k === 'object'))
    throw new UsageError(`audit verify: --jwks ${file} holds no keys`);
  return keys as JWK[];
}

/**
 * The ledger's own public key: the configured one, the key stored in a shared ledger (sealed under the master key),
 * or the data folder's; never generates one (verifying must not create key material).
 */
async function ownPublicKey(config: Config, store: EventStore | null): Promise<KeyObject | null> {
  if (store !== null && isSharedStore(config) && config.signingKeyPem === null) {
    if ((await store.readStream(streams.signingKeys, { maxCount: 1 })).length === 0) return null;
    const sealer = new Sealer(loadMasterKey(config.dataDir, config.masterKey ?? undefined));
    // A key is stored: this returns it and writes nothing.
    const k = await sharedSigningKey(store, sealer, null, randomIds);
    return createPublicKey(k.privateKey);
  }
  if (!config.signingKeyPem && !existsSync(join(config.dataDir, 'signing-key.pem'))) return null;
  const k = await loadSigningKey(config.dataDir, config.signingKeyPem ?? undefined);
  return createPublicKey(k.privateKey);
}

/** The keys to verify with: the JWKS given, or the data folder's own; a usage error when there are none. */
async function publicKeys(
  config: Config,
  jwksFile: string | undefined,
  store: EventStore | null = null,
): Promise<{ jwks: JWK[] } | { publicKeys: KeyObject[] }> {
  if (jwksFile !== undefined) {
    const jwks = readJwks(jwksFile);
    const usable = await keysByKid(jwks).catch((err: unknown) => {
      throw new UsageError(`audit verify: --jwks ${jwksFile}: ${(err as Error).message}`);
    });
    if (usable.size === 0) throw new UsageError(`audit verify: --jwks ${jwksFile} holds no Ed25519 key`);
    return { jwks };
  }
  const own = await ownPublicKey(config, store);
  if (!own)
    throw new UsageError(
      `audit verify: no signing key in ${isSharedStore(config) ? 'the ledger' : config.dataDir}; pass --jwks FILE`,
    );
  return { publicKeys: [own] };
}

/** `token-ledger audit verify`: exit 0 verified, 1 tampered (or failed), 2 usage error. */
export const auditVerifyCommand: Command = {
  name: 'audit verify',
  args: '--store [--jwks F] | FILE [--jwks F] [--manifest F]',
  summary: 'verify the hash chain and signed checkpoints of the whole log (--store), or of one export FILE, offline',
  parse(argv) {
    const { values, positionals } = parseCommand(
      this.name,
      argv,
      { store: { type: 'boolean' }, jwks: { type: 'string' }, manifest: { type: 'string' } },
      { optional: ['FILE'] },
    );
    const file = positionals[0];
    if (values.store === true) {
      if (file !== undefined || values.manifest !== undefined)
        throw new UsageError('audit verify: --store takes no file and no --manifest');
      return async ({ config }) => {
        // Opening a store creates one: a folder with no ledger is refused before anything is written.
        if (!ledgerExists(config))
          throw new UsageError(`audit verify: no ledger in ${config.dataDir} (LEDGER_DATA_DIR)`);
        return verifyStoreCommand(config, values.jwks);
      };
    }
    if (file === undefined) throw new UsageError('audit verify: give --store or one export file');
    return async ({ config }) => {
      if (!existsSync(file)) throw new UsageError(`audit verify: no such file: ${file}`);
      if (values.manifest !== undefined && !existsSync(values.manifest))
        throw new UsageError(`audit verify: no such file: ${values.manifest}`);
      return verifyExportCommand(file, await publicKeys(config, values.jwks), values.manifest);
    };
  },
};

/**
 * The audit.db to use as a witness: the data folder's, whenever the file exists, whichever store holds the log
 * (with EventStoreDB the projection still keeps audit.db in the data folder).
 */
export function witnessFile(config: Pick<Config, 'dataDir'>): string | undefined {
  const file = auditDbFile(config.dataDir);
  return existsSync(file) ? file : undefined;
}

/** The witness: the PostgreSQL audit tables with a PostgreSQL ledger (when they exist), else the data folder's audit.db. */
async function openWitness(config: Config): Promise<{ witness?: AuditWitness; auditDbFile?: string } | null> {
  if (config.databaseUrl !== null) {
    const { PostgresAuditStore } = await import('../../projections/audit/postgres-store.js');
    const pg = await PostgresAuditStore.openExisting(config.databaseUrl);
    return pg === null ? null : { witness: pg };
  }
  const file = witnessFile(config);
  return file === undefined ? null : { auditDbFile: file };
}

async function verifyStoreCommand(config: Config, jwksFile: string | undefined): Promise<number> {
  // A key in the data folder (or none) is a usage question settled before the store is opened; a shared ledger holds its own.
  const local = isSharedStore(config) ? null : await publicKeys(config, jwksFile);
  const store = await openStore(config);
  let witness: { witness?: AuditWitness; auditDbFile?: string } | null = null;
  try {
    const keys = local ?? (await publicKeys(config, jwksFile, store));
    witness = await openWitness(config);
    const bar = progressBar('verify', await store.headPosition());
    const r = await verifyStore(store, {
      publicKeys: 'jwks' in keys ? keys.jwks : keys.publicKeys,
      ...witness,
      progress: (p) => bar.update(p),
    });
    bar.done();
    if (r.ok) {
      const by = witness?.witness ? 'the audit tables' : 'audit.db';
      out(
        `OK: ${r.events} events, ${r.checkpoints} checkpoints, chain ${r.chain}${r.witnessed ? `, witness ${by}` : ''}`,
      );
      return 0;
    }
    out(`FAIL at position ${r.position}: ${r.code} ${r.reason}`);
    return 1;
  } finally {
    await witness?.witness?.close();
    await store.close();
  }
}

type Keys = { jwks: JWK[] } | { publicKeys: KeyObject[] };

async function verifyExportCommand(file: string, keys: Keys, manifestFile: string | undefined): Promise<number> {
  const r = await verifyExportFile(file, { ...keys, ...(manifestFile !== undefined ? { manifestFile } : {}) });
  if (r.ok) {
    const kid = (r as { kid?: string }).kid;
    out(`OK: ${r.records} records${kid ? `, manifest signed by ${kid}` : ''}`);
    return 0;
  }
  const f = r.failure;
  out(
    f
      ? `FAIL at record ${f.record} (position ${f.position ?? '-'}): ${f.code} ${f.reason}`
      : `FAIL: ${r.records} records, no failure detail`,
  );
  return 1;
}
