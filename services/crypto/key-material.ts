// Master and signing keys: from configuration, or generated once into the data folder with mode 0600.
import { randomBytes, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { secureDataDir, secureFile } from '../../events/store/data-dir.js';

function writeSecretFile(path: string, content: string): void {
  // 'wx' so two processes starting at once cannot overwrite each other's key.
  try {
    writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  chmodSync(path, 0o600);
}

export function loadMasterKey(dataDir: string, configured?: string): Buffer {
  if (configured) {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32) throw new TypeError('LEDGER_MASTER_KEY must be 32 bytes, base64-encoded');
    return key;
  }
  secureDataDir(dataDir);
  const path = join(dataDir, 'master.key');
  if (!existsSync(path)) writeSecretFile(path, randomBytes(32).toString('base64') + '\n');
  else secureFile(path); // a key restored from a backup may have come back world-readable
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new TypeError(`${path} does not hold a 32-byte base64 key`);
  return key;
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: JWK;
}

export async function loadSigningKey(dataDir: string, configuredPem?: string): Promise<SigningKey> {
  let pem = configuredPem;
  if (!pem) {
    secureDataDir(dataDir);
    const path = join(dataDir, 'signing-key.pem');
    if (!existsSync(path)) writeSecretFile(path, newSigningKeyPem());
    else secureFile(path);
    pem = readFileSync(path, 'utf8');
  }
  return signingKeyFromPem(pem);
}

/** A generated Ed25519 signing key, as PKCS#8 PEM. */
export function newSigningKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export async function signingKeyFromPem(pem: string): Promise<SigningKey> {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('the signing key must be Ed25519');
  const publicKey = createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' } };
}
