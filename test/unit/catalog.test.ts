// The event catalogue pinned: a type removed from it (or added) shows here, and every type is known to
// serialization, the read model and the CloudEvents mapping, at every schema version it was ever written in.
import { expect } from 'chai';
import {
  EVENT_CATALOGUE,
  EVENT_TYPES,
  schemaVersionOf,
  type LedgerEvent,
  type LedgerEventType,
} from '../../events/catalog.js';
import { isLedgerEventType, toStoredEvent } from '../../events/serialization.js';
import type { RecordedEvent } from '../../events/store/types.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { ledgerCloudEvent } from '../../projections/revocations/cloudevents.js';
import { keyCreatedData } from '../support/events.js';

/** One plausible event of each type; typed per type, so a new event cannot be added without a sample. */
const SAMPLES: { [T in LedgerEventType]: Extract<LedgerEvent, { type: T }>['data'] } = {
  UserRegistered: {
    userId: 'usr_1',
    email: 'ann@example.com',
    name: 'Ann',
    passwordHash: '$argon2id$x',
    systemRole: 'user',
  },
  UserPasswordChanged: { userId: 'usr_1', passwordHash: '$argon2id$y' },
  UserDeactivated: { userId: 'usr_1', reason: null },
  UserReactivated: { userId: 'usr_1' },
  UserLoginSucceeded: { userId: 'usr_1', sessionId: 'ses_1', expiresAt: '2026-01-02T00:00:00.000Z' },
  UserLoginFailed: { userId: 'usr_1', email: 'ann@example.com', reason: 'bad_password' },
  UserLoggedOut: { userId: 'usr_1', sessionId: 'ses_1' },
  UserPasswordChangeFailed: { userId: 'usr_1', reason: 'bad_password' },
  UserLockoutLifted: { userId: 'usr_1', email: 'ann@example.com' },
  WorkspaceCreated: { workspaceId: 'ws_1', name: 'W', ownerId: 'usr_1' },
  WorkspaceMemberRoleSet: { workspaceId: 'ws_1', userId: 'usr_1', role: 'owner' },
  WorkspaceMemberRemoved: { workspaceId: 'ws_1', userId: 'usr_2' },
  WorkspacePolicySet: { workspaceId: 'ws_1', maxTtlSeconds: null, requireExpiry: false, maxGraceSeconds: null },
  WorkspaceInvitationCreated: {
    workspaceId: 'ws_1',
    invitationId: 'inv_1',
    email: 'bob@example.com',
    role: 'member',
    expiresAt: '2026-02-01T00:00:00.000Z',
  },
  WorkspaceInvitationAccepted: { workspaceId: 'ws_1', invitationId: 'inv_1', userId: 'usr_2' },
  WorkspaceInvitationCancelled: { workspaceId: 'ws_1', invitationId: 'inv_2', reason: 'declined' },
  ApiKeyCreated: keyCreatedData({ keyId: 'key_1' }),
  ApiKeyUsed: {
    keyId: 'key_1',
    count: 2,
    firstAt: '2026-01-01T00:00:00.000Z',
    lastAt: '2026-01-01T00:00:01.000Z',
    lastIp: null,
    lastUserAgent: null,
    presentation: 'bearer',
    presentations: { bearer: 2 },
  },
  ApiKeyUpdated: { keyId: 'key_1', name: 'renamed' },
  ApiKeySecretRevealed: { keyId: 'key_1' },
  ApiKeyRotated: { keyId: 'key_1', successorId: 'key_2', graceEndsAt: '2026-01-01T01:00:00.000Z' },
  ApiKeyExpired: { keyId: 'key_1', expiredAt: '2026-01-01T01:00:00.000Z', reason: 'rotated' },
  ApiKeyRevoked: { keyId: 'key_1', reason: null, revokedBy: { type: 'user', id: 'usr_1' } },
  UniqueValueClaimed: {
    scope: 'email',
    value: 'ann@example.com',
    ownerId: 'usr_1',
    claimedAt: '2026-01-01T00:00:00.000Z',
  },
  UniqueValueReleased: { scope: 'email', value: 'ann@example.com', ownerId: 'usr_1' },
  LedgerCheckpointed: {
    position: 3,
    chain: '00'.repeat(32),
    at: '2026-01-01T00:00:00.000Z',
    kid: 'k1',
    signature: 'sig',
  },
  LedgerSigningKeyStored: { kid: 'k1', sealed: { alg: 'A256GCM', kid: 'm1', iv: 'iv', ct: 'ct', tag: 'tag' } },
};

function recorded(type: string, position: number, schemaVersion: number): RecordedEvent {
  return {
    id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
    streamId: 's',
    revision: 0,
    position,
    type,
    data: (SAMPLES as Record<string, unknown>)[type],
    metadata: {
      eventId: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
      occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, position)).toISOString(),
      actor: { type: 'system', id: 'system' },
      request: {},
      correlationId: 'c',
      causationId: null,
      schemaVersion,
    },
  };
}

describe('unit: the event catalogue', () => {
  it('lists exactly these event types, in this order (a removal or addition is a visible change)', () => {
    expect(EVENT_TYPES).to.deep.equal([
      'UserRegistered',
      'UserPasswordChanged',
      'UserDeactivated',
      'UserReactivated',
      'UserLoginSucceeded',
      'UserLoginFailed',
      'UserLoggedOut',
      'UserPasswordChangeFailed',
      'UserLockoutLifted',
      'WorkspaceCreated',
      'WorkspaceMemberRoleSet',
      'WorkspaceMemberRemoved',
      'WorkspacePolicySet',
      'WorkspaceInvitationCreated',
      'WorkspaceInvitationAccepted',
      'WorkspaceInvitationCancelled',
      'ApiKeyCreated',
      'ApiKeyUsed',
      'ApiKeyUpdated',
      'ApiKeySecretRevealed',
      'ApiKeyRotated',
      'ApiKeyExpired',
      'ApiKeyRevoked',
      'UniqueValueClaimed',
      'UniqueValueReleased',
      'LedgerCheckpointed',
      'LedgerSigningKeyStored',
    ]);
    expect(Object.keys(SAMPLES)).to.have.members([...EVENT_TYPES]);
  });

  it('gives every type a whole schema version ≥ 1, and only ApiKeyUsed has moved past 1', () => {
    for (const t of EVENT_TYPES) {
      const v = EVENT_CATALOGUE[t].schemaVersion;
      expect(Number.isInteger(v) && v >= 1, t).to.equal(true);
      expect(schemaVersionOf(t), t).to.equal(v);
    }
    expect(EVENT_TYPES.filter((t) => schemaVersionOf(t) !== 1)).to.deep.equal(['ApiKeyUsed']);
    expect(schemaVersionOf('SomethingNewer')).to.equal(1);
  });

  it('serialization knows every type at every version it was written in (each old version has an upcaster)', () => {
    let position = 0;
    for (const t of EVENT_TYPES) {
      expect(isLedgerEventType(t), t).to.equal(true);
      for (let v = 1; v <= schemaVersionOf(t); v++) {
        const e = toStoredEvent(recorded(t, ++position, v));
        expect(e, `${t} v${v}`).to.not.equal(null);
        expect(e!.type).to.equal(t);
      }
    }
    expect(isLedgerEventType('ApiKeyTeleported')).to.equal(false);
    expect(toStoredEvent(recorded('ApiKeyTeleported', ++position, 1))).to.equal(null);
  });

  it('the read model applies every type, and every type has its CloudEvent on the all-events topic', () => {
    const model = new ReadModel();
    const seen: string[] = [];
    model.onApplied((e) => seen.push(e.type));
    EVENT_TYPES.forEach((t, i) => {
      const e = toStoredEvent(recorded(t, i + 1, schemaVersionOf(t)))!;
      model.apply(e);
      expect(ledgerCloudEvent(e).type, t).to.equal(`io.token-ledger.${t}`);
    });
    expect(seen).to.deep.equal([...EVENT_TYPES]);
    expect(model.position).to.equal(EVENT_TYPES.length);
    // The key's facts were applied, not skipped: renamed, rotated, then revoked.
    expect(model.keysById.get('key_1')).to.include({ name: 'renamed', rotatedTo: 'key_2', revokeReason: null });
  });
});
