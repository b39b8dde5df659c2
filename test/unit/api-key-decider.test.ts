import type { ApiKeyEvent, ApiKeyCreated } from '../../events/catalog.js';
import { apiKeyDecider, type ApiKeyCommand } from '../../services/domain/api-key.js';
import { spec } from '../support/decider-spec.js';
import { createKeyCommand, keyCreatedData } from '../support/events.js';

const now = new Date('2026-03-01T12:00:00.000Z');
const later = (s: number): Date => new Date(now.getTime() + s * 1000);
const noPolicy = { maxTtlSeconds: null, requireExpiry: false, maxGraceSeconds: null };

const create = (
  over: Partial<Extract<ApiKeyCommand, { type: 'CreateApiKey' }>> = {},
): Extract<ApiKeyCommand, { type: 'CreateApiKey' }> => createKeyCommand(now, over);

const created = (expiresAt: string | null = null, sealed = false): ApiKeyCreated => ({
  type: 'ApiKeyCreated',
  data: keyCreatedData({
    name: 'ci',
    expiresAt,
    sealed: sealed ? { alg: 'A256GCM', kid: 'k', iv: 'i', ct: 'c', tag: 't' } : null,
  }),
});
const revoked: ApiKeyEvent = {
  type: 'ApiKeyRevoked',
  data: { keyId: 'key_1', reason: 'leak', revokedBy: { type: 'user', id: 'usr_9' } },
};
const expired: ApiKeyEvent = {
  type: 'ApiKeyExpired',
  data: { keyId: 'key_1', expiredAt: now.toISOString(), reason: 'ttl' },
};

const keys = spec(apiKeyDecider);

describe('API key decider', () => {
  describe('creation', () => {
    it('creates a key that never expires when the policy allows it', () => {
      keys.given([]).when(create()).then([created()]);
    });
    it('creates a key with an expiry in the future', () => {
      keys
        .given([])
        .when(create({ expiresAt: later(3600) }))
        .then([created(later(3600).toISOString())]);
    });
    it('refuses an expiry in the past', () => {
      keys
        .given([])
        .when(create({ expiresAt: later(-1) }))
        .thenRefuses('EXPIRY_IN_PAST');
    });
    it('refuses a key without expiry when the policy requires one', () => {
      keys
        .given([])
        .when(create({ policy: { ...noPolicy, requireExpiry: true } }))
        .thenRefuses('EXPIRY_REQUIRED');
    });
    it('refuses a key without expiry when the policy sets a maximum TTL', () => {
      keys
        .given([])
        .when(create({ policy: { ...noPolicy, maxTtlSeconds: 3600 } }))
        .thenRefuses('EXPIRY_REQUIRED');
    });
    it('refuses an expiry beyond the policy maximum TTL', () => {
      keys
        .given([])
        .when(create({ expiresAt: later(3601), policy: { ...noPolicy, maxTtlSeconds: 3600 } }))
        .thenRefuses('EXPIRY_BEYOND_POLICY');
    });
    it('accepts an expiry exactly at the policy maximum', () => {
      keys
        .given([])
        .when(create({ expiresAt: later(3600), policy: { ...noPolicy, maxTtlSeconds: 3600 } }))
        .then([created(later(3600).toISOString())]);
    });
    it('refuses to create the same key twice', () => {
      keys.given([created()]).when(create()).thenRefuses('KEY_EXISTS');
    });
  });

  describe('expiry is set only at creation', () => {
    it('refuses an update that touches expiry', () => {
      keys
        .given([created()])
        .when({ type: 'UpdateApiKey', now, expiresAt: later(10).toISOString() })
        .thenRefuses('EXPIRY_IMMUTABLE');
    });
    it('updates name, description and alias', () => {
      keys
        .given([created()])
        .when({ type: 'UpdateApiKey', now, name: 'deploy', description: 'for CI', alias: 'ci-main' })
        .then([
          { type: 'ApiKeyUpdated', data: { keyId: 'key_1', name: 'deploy', description: 'for CI', alias: 'ci-main' } },
        ]);
    });
    it('writes nothing for an update that changes nothing', () => {
      keys.given([created()]).when({ type: 'UpdateApiKey', now, name: 'ci' }).thenNothing();
    });
  });

  describe('revocation', () => {
    it('records who revoked the key and why', () => {
      keys
        .given([created()])
        .when({ type: 'RevokeApiKey', now, reason: 'leak', by: { type: 'user', id: 'usr_9' } })
        .then([revoked]);
    });
    it('is idempotent: revoking twice writes once', () => {
      keys
        .given([created(), revoked])
        .when({ type: 'RevokeApiKey', now, reason: 'again', by: { type: 'user', id: 'usr_9' } })
        .thenNothing();
    });
    it('a revoked key cannot be updated, rotated or revealed', () => {
      keys
        .given([created(null, true), revoked])
        .when({ type: 'UpdateApiKey', now, name: 'x' })
        .thenRefuses('KEY_REVOKED');
      keys
        .given([created(null, true), revoked])
        .when({ type: 'RotateApiKey', now, successorId: 'key_2', graceSeconds: 0, maxGraceSeconds: 60 })
        .thenRefuses('KEY_REVOKED');
      keys
        .given([created(null, true), revoked])
        .when({ type: 'RevealApiKeySecret', now })
        .thenRefuses('KEY_REVOKED');
    });
    it('an expired key can still be revoked, for the record', () => {
      keys
        .given([created(now.toISOString()), expired])
        .when({ type: 'RevokeApiKey', now, reason: 'leak', by: { type: 'user', id: 'usr_9' } })
        .then([revoked]);
    });
  });

  describe('a key past its end of life counts as expired before ApiKeyExpired exists', () => {
    const rotatedWithGrace: ApiKeyEvent = {
      type: 'ApiKeyRotated',
      data: { keyId: 'key_1', successorId: 'key_2', graceEndsAt: later(30).toISOString() },
    };
    it('cannot be rotated at or after its expiry instant', () => {
      keys
        .given([created(later(10).toISOString(), true)])
        .when({ type: 'RotateApiKey', now: later(10), successorId: 'key_2', graceSeconds: 0, maxGraceSeconds: 60 })
        .thenRefuses('KEY_EXPIRED');
    });
    it('cannot have its secret revealed after its expiry instant', () => {
      keys
        .given([created(later(10).toISOString(), true)])
        .when({ type: 'RevealApiKeySecret', now: later(11) })
        .thenRefuses('KEY_EXPIRED');
    });
    it('cannot be updated after its expiry instant', () => {
      keys
        .given([created(later(10).toISOString(), true)])
        .when({ type: 'UpdateApiKey', now: later(10), name: 'x' })
        .thenRefuses('KEY_EXPIRED');
    });
    it('cannot be revealed or updated once its rotation grace has ended', () => {
      keys
        .given([created(null, true), rotatedWithGrace])
        .when({ type: 'RevealApiKeySecret', now: later(30) })
        .thenRefuses('KEY_EXPIRED');
      keys
        .given([created(null, true), rotatedWithGrace])
        .when({ type: 'UpdateApiKey', now: later(31), name: 'x' })
        .thenRefuses('KEY_EXPIRED');
    });
    it('still works just before that instant', () => {
      keys
        .given([created(later(10).toISOString(), true)])
        .when({ type: 'RevealApiKeySecret', now: later(9) })
        .then([{ type: 'ApiKeySecretRevealed', data: { keyId: 'key_1' } }]);
      keys
        .given([created(null, true), rotatedWithGrace])
        .when({ type: 'UpdateApiKey', now: later(29), name: 'x' })
        .then([{ type: 'ApiKeyUpdated', data: { keyId: 'key_1', name: 'x' } }]);
    });
  });

  describe('expiry events', () => {
    it('writes ApiKeyExpired once the time has passed', () => {
      keys
        .given([created(now.toISOString())])
        .when({ type: 'ExpireApiKey', now: later(1) })
        .then([expired]);
    });
    it('writes nothing before the time', () => {
      keys
        .given([created(later(10).toISOString())])
        .when({ type: 'ExpireApiKey', now })
        .thenNothing();
    });
    it('writes nothing for an already expired key (exactly once)', () => {
      keys
        .given([created(now.toISOString()), expired])
        .when({ type: 'ExpireApiKey', now: later(5) })
        .thenNothing();
    });
    it('writes nothing for a revoked key', () => {
      keys
        .given([created(now.toISOString()), revoked])
        .when({ type: 'ExpireApiKey', now: later(5) })
        .thenNothing();
    });
  });

  describe('rotation', () => {
    it('with no grace, links the successor and expires the old key at once', () => {
      keys
        .given([created()])
        .when({ type: 'RotateApiKey', now, successorId: 'key_2', graceSeconds: 0, maxGraceSeconds: 60 })
        .then([
          { type: 'ApiKeyRotated', data: { keyId: 'key_1', successorId: 'key_2', graceEndsAt: now.toISOString() } },
          { type: 'ApiKeyExpired', data: { keyId: 'key_1', expiredAt: now.toISOString(), reason: 'rotated' } },
        ]);
    });
    it('with a grace period, keeps the old key until the grace ends', () => {
      keys
        .given([created()])
        .when({ type: 'RotateApiKey', now, successorId: 'key_2', graceSeconds: 30, maxGraceSeconds: 60 })
        .then([
          {
            type: 'ApiKeyRotated',
            data: { keyId: 'key_1', successorId: 'key_2', graceEndsAt: later(30).toISOString() },
          },
        ]);
    });
    it('expires the old key when the grace ends', () => {
      const rotated: ApiKeyEvent = {
        type: 'ApiKeyRotated',
        data: { keyId: 'key_1', successorId: 'key_2', graceEndsAt: later(30).toISOString() },
      };
      keys
        .given([created(), rotated])
        .when({ type: 'ExpireApiKey', now: later(31) })
        .then([
          { type: 'ApiKeyExpired', data: { keyId: 'key_1', expiredAt: later(30).toISOString(), reason: 'rotated' } },
        ]);
    });
    it('without a grace period given, retires the old key at once (default 0)', () => {
      keys
        .given([created()])
        .when({ type: 'RotateApiKey', now, successorId: 'key_2', maxGraceSeconds: 60 })
        .then([
          { type: 'ApiKeyRotated', data: { keyId: 'key_1', successorId: 'key_2', graceEndsAt: now.toISOString() } },
          { type: 'ApiKeyExpired', data: { keyId: 'key_1', expiredAt: now.toISOString(), reason: 'rotated' } },
        ]);
    });
    it('refuses a grace period beyond the maximum', () => {
      keys
        .given([created()])
        .when({ type: 'RotateApiKey', now, successorId: 'key_2', graceSeconds: 61, maxGraceSeconds: 60 })
        .thenRefuses('GRACE_TOO_LONG');
    });
    it('refuses to rotate a key twice', () => {
      const rotated: ApiKeyEvent = {
        type: 'ApiKeyRotated',
        data: { keyId: 'key_1', successorId: 'key_2', graceEndsAt: later(30).toISOString() },
      };
      keys
        .given([created(), rotated])
        .when({ type: 'RotateApiKey', now, successorId: 'key_3', graceSeconds: 0, maxGraceSeconds: 60 })
        .thenRefuses('KEY_ALREADY_ROTATED');
    });
  });

  describe('secret reveal', () => {
    it('is recorded for a retrievable key', () => {
      keys
        .given([created(null, true)])
        .when({ type: 'RevealApiKeySecret', now })
        .then([{ type: 'ApiKeySecretRevealed', data: { keyId: 'key_1' } }]);
    });
    it('is refused for a key created as not retrievable', () => {
      keys.given([created()]).when({ type: 'RevealApiKeySecret', now }).thenRefuses('KEY_NOT_RETRIEVABLE');
    });
  });

  describe('use', () => {
    it('records a coalesced use with count, times, ip, agent, the last presentation and a count per presentation', () => {
      keys
        .given([created()])
        .when({
          type: 'RecordApiKeyUse',
          count: 3,
          firstAt: now,
          lastAt: later(5),
          lastIp: '127.0.0.1',
          lastUserAgent: 'curl',
          presentation: 'bearer',
          presentations: { bearer: 2, url: 1 },
        })
        .then([
          {
            type: 'ApiKeyUsed',
            data: {
              keyId: 'key_1',
              count: 3,
              firstAt: now.toISOString(),
              lastAt: later(5).toISOString(),
              lastIp: '127.0.0.1',
              lastUserAgent: 'curl',
              presentation: 'bearer',
              presentations: { bearer: 2, url: 1 },
            },
          },
        ]);
    });
  });
});
