// Key material for instances that share a store: the master key comes from configuration (every instance the same),
// and the signing key is stored once in the ledger, sealed under it. The first instance to start stores one (the
// others lose the race on the stream's expected revision and use it); an instance whose keys do not match refuses
// to start, with one line saying why.
import { streams } from '../../events/catalog.js';
import { ConcurrencyError } from '../../events/errors.js';
import { SYSTEM_ACTOR } from '../../events/metadata.js';
import { toStoredEvent } from '../../events/serialization.js';
import type { EventStore } from '../../events/store/types.js';
import { ConfigError } from '../config.js';
import { SecretError } from '../domain/errors.js';
import type { IdGenerator } from '../ids.js';
import { newSigningKeyPem, signingKeyFromPem, type SigningKey } from './key-material.js';
import type { Sealer } from './sealing.js';

/** What the sealed signing key is bound to (AES-GCM additional data): it opens as nothing else. */
const AAD = 'ledger-signing-key';

async function stored(store: EventStore, sealer: Sealer): Promise<SigningKey | null> {
  const [first] = await store.readStream(streams.signingKeys, { maxCount: 1 });
  const e = first ? toStoredEvent(first) : null;
  if (e === null) return null;
  if (e.type !== 'LedgerSigningKeyStored')
    throw new ConfigError(`${streams.signingKeys} holds a ${e.type}, not a signing key`);
  let pem: string;
  try {
    pem = sealer.open(e.data.sealed, AAD);
  } catch (err) {
    if (err instanceof SecretError)
      throw new ConfigError(
        `LEDGER_MASTER_KEY does not open this ledger's signing key (kid ${e.data.kid}): it is not the key the other instances use`,
        { cause: err },
      );
    throw err;
  }
  return signingKeyFromPem(pem);
}

/**
 * The ledger's signing key: the stored one; or, when none is stored yet, the configured one (else a new one), stored now.
 * A configured key that differs from the stored one stops the start.
 */
export async function sharedSigningKey(
  store: EventStore,
  sealer: Sealer,
  configuredPem: string | null,
  ids: IdGenerator,
): Promise<SigningKey> {
  const configured = configuredPem === null ? null : await signingKeyFromPem(configuredPem);
  const existing = await stored(store, sealer);
  if (existing !== null) {
    if (configured !== null && configured.kid !== existing.kid)
      throw new ConfigError(
        `LEDGER_SIGNING_KEY (kid ${configured.kid}) is not this ledger's signing key (kid ${existing.kid})`,
      );
    return existing;
  }
  const pem = configuredPem ?? newSigningKeyPem();
  const key = configured ?? (await signingKeyFromPem(pem));
  const id = ids.uuid();
  const metadata = {
    eventId: id,
    occurredAt: new Date().toISOString(),
    actor: SYSTEM_ACTOR,
    request: {},
    correlationId: id,
    causationId: null,
    schemaVersion: 1,
  };
  try {
    await store.append(
      streams.signingKeys,
      [{ id, type: 'LedgerSigningKeyStored', data: { kid: key.kid, sealed: sealer.seal(pem, AAD) }, metadata }],
      'no_stream',
    );
    return key;
  } catch (err) {
    // Another instance stored its key first: that one is the ledger's.
    if (!(err instanceof ConcurrencyError)) throw err;
    return sharedSigningKey(store, sealer, configuredPem, ids);
  }
}
