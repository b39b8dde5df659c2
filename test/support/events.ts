// Hand-built ledger events and commands for unit tests: one place for the defaults, so tests state only what matters.
import type { ApiKeyCreated, LedgerEvent, StoredEvent } from '../../events/catalog.js';
import type { ApiKeyCommand } from '../../services/domain/api-key.js';

type CreateApiKey = Extract<ApiKeyCommand, { type: 'CreateApiKey' }>;

/** ApiKeyCreated data with plain defaults (unscoped, opaque, no expiry, not retrievable). */
export function keyCreatedData(over: Partial<ApiKeyCreated['data']> = {}): ApiKeyCreated['data'] {
  return {
    keyId: 'key_1',
    userId: 'usr_1',
    workspaceId: 'ws_1',
    name: 'n',
    description: null,
    handle: null,
    alias: null,
    scopes: null,
    format: 'opaque',
    digest: 'ab'.repeat(32),
    start: 'tl_abcd',
    expiresAt: null,
    sealed: null,
    rotatedFrom: null,
    ...over,
  };
}

/** A CreateApiKey command with plain defaults, for a member of ws_1. */
export function createKeyCommand(now: Date, over: Partial<CreateApiKey> = {}): CreateApiKey {
  return {
    type: 'CreateApiKey',
    now,
    ...keyCreatedData({ name: 'ci' }),
    expiresAt: null,
    policy: { maxTtlSeconds: null, requireExpiry: false, maxGraceSeconds: null },
    ownerRole: 'owner',
    ...over,
  };
}

export type EventMaker = <E extends LedgerEvent>(type: E['type'], data: E['data'], streamId: string) => StoredEvent;

/** Stored events at consecutive positions after `start` (one second apart), each factory with its own counter. */
export function storedEvents(start = 0): EventMaker {
  let pos = start;
  return (type, data, streamId) => {
    pos += 1;
    return {
      type,
      data,
      streamId,
      revision: 0,
      position: pos,
      metadata: {
        eventId: `evt-${pos}`,
        occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, pos)).toISOString(),
        actor: { type: 'user', id: 'usr_admin' },
        request: {},
        correlationId: 'c',
        causationId: null,
        schemaVersion: 1,
      },
    } as unknown as StoredEvent;
  };
}

/** An ApiKeyCreated stored event made by `ev`. */
export function keyCreatedEvent(ev: EventMaker, over: Partial<ApiKeyCreated['data']> & { keyId: string }): StoredEvent {
  return ev('ApiKeyCreated', keyCreatedData(over), `apikey-${over.keyId}`);
}
