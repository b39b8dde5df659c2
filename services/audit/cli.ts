// `token-ledger audit verify`: checks the whole store (chain, signed checkpoints, audit.db witness) or an export file.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import type { Config } from '../config.js';
import { loadSigningKey } from '../crypto/key-material.js';
import { progressBar } from '../cli/progress.js';
import { openStore } from '../open-ledger.js';
import { auditDbFile } from './plugin.js';
import { verifyExportFile } from './verify-export.js';
import { keysByKid, verifyStore } from './verify-store.js';

export const AUDIT_USAGE = `token-ledger audit verify --store [--jwks FILE]
token-ledger audit verify EXPORT_FILE [--jwks FILE] [--manifest FILE]`;

class UsageError extends Error {}

function say(stream: NodeJS.WriteStream, line: string): void {
  stream.write(`${line}\n`);
}

/** A JWKS file ({"keys":[…]}), a bare JWK array, or one JWK. */
function readJwks(file: string): JWK[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--jwks ${file}: ${(err as Error).message}`);
  }
  const keys: unknown = Array.isArray(parsed) ? parsed : parsed && typeof parsed === 'object' && 'keys' in parsed ? parsed.keys : [parsed];
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => k !== null && typeof k === 'object'))
    throw new UsageError(`--jwks ${file} holds no keys`);
  return keys as JWK[];
}

/** The data folder's own public key; never generates one (verifying must not create key material). */
async function ownPublicKey(config: Config): Promise<KeyObject | null> {
  if (!config.signingKeyPem && !existsSync(join(config.dataDir, 'signing-key.pem'))) return null;
  const k = await loadSigningKey(config.dataDir, config.signingKeyPem ?? undefined);
  return createPublicKey(k.privateKey);
}

/** Returns the exit code: 0 verified, 1 tampered (or failed), 2 usage error. */
export async function runAuditCli(argv: string[], config: Config): Promise<number> {
  try {
    return await dispatch(argv, config);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    say(process.stderr, `token-ledger: ${err.message}`);
    say(process.stderr, AUDIT_USAGE);
    return 2;
  }
}

async function dispatch(argv: string[], config: Config): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'verify') throw new UsageError(sub === undefined ? 'audit needs a subcommand' : `unknown audit subcommand "${sub}"`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, options: { store: { type: 'boolean' }, jwks: { type: 'string' }, manifest: { type: 'string' } } });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const jwks = values.jwks === undefined ? undefined : readJwks(values.jwks);
  if (jwks) {
    const usable = await keysByKid(jwks).catch((err: unknown) => {
      throw new UsageError(`--jwks ${values.jwks}: ${(err as Error).message}`);
    });
    if (usable.size === 0) throw new UsageError(`--jwks ${values.jwks} holds no Ed25519 key`);
  }
  if (values.store) {
    if (positionals.length > 0 || values.manifest !== undefined) throw new UsageError('--store takes no file and no --manifest');
    return verifyStoreCommand(config, jwks);
  }
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) throw new UsageError('give --store or exactly one export file');
  if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
  if (values.manifest !== undefined && !existsSync(values.manifest)) throw new UsageError(`no such file: ${values.manifest}`);
  return verifyExportCommand(config, file, jwks, values.manifest);
}

/**
 * The audit.db to use as a witness: the data folder's, whenever the file exists, whichever store holds the log
 * (with EventStoreDB the projection still keeps audit.db in the data folder).
 */
export function witnessFile(config: Pick<Config, 'dataDir'>): string | undefined {
  const file = auditDbFile(config.dataDir);
  return existsSync(file) ? file : undefined;
}

async function verifyStoreCommand(config: Config, jwks: JWK[] | undefined): Promise<number> {
  const own = jwks ? null : await ownPublicKey(config);
  if (!jwks && !own) throw new UsageError(`no signing key in ${config.dataDir}; pass --jwks FILE`);
  const store = await openStore(config);
  try {
    const bar = progressBar('verify', await store.headPosition());
    const r = await verifyStore(store, {
      publicKeys: jwks ?? [own!],
      auditDbFile: witnessFile(config),
      progress: (p) => bar.update(p),
    });
    bar.done();
    if (r.ok) {
      say(process.stdout, `OK: ${r.events} events, ${r.checkpoints} checkpoints, chain ${r.chain}${r.witnessed ? ', witness audit.db' : ''}`);
      return 0;
    }
    say(process.stdout, `FAIL at position ${r.position}: ${r.code} ${r.reason}`);
    return 1;
  } finally {
    await store.close();
  }
}

async function verifyExportCommand(config: Config, file: string, jwks: JWK[] | undefined, manifestFile: string | undefined): Promise<number> {
  const own = jwks ? null : await ownPublicKey(config);
  if (!jwks && !own) throw new UsageError(`no signing key in ${config.dataDir}; pass --jwks FILE`);
  const r = await verifyExportFile(file, {
    ...(jwks ? { jwks } : { publicKeys: [own!] }),
    ...(manifestFile !== undefined ? { manifestFile } : {}),
  });
  if (r.ok) {
    const kid = (r as { kid?: string }).kid;
    say(process.stdout, `OK: ${r.records} records${kid ? `, manifest signed by ${kid}` : ''}`);
    return 0;
  }
  const f = r.failure;
  say(
    process.stdout,
    f ? `FAIL at record ${f.record} (position ${f.position ?? '-'}): ${f.code} ${f.reason}` : `FAIL: ${r.records} records, no failure detail`,
  );
  return 1;
}
