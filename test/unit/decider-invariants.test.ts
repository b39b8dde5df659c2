// The invariants every decider holds, so no entry point (HTTP, CLI, anything later) records an invalid fact.
import { expect } from 'chai';
import type { WorkspaceEvent, WorkspaceRole } from '../../events/catalog.js';
import { apiKeyDecider, type ApiKeyCommand } from '../../services/domain/api-key.js';
import { userDecider } from '../../services/domain/user.js';
import { workspaceDecider } from '../../services/domain/workspace.js';
import { spec } from '../support/decider-spec.js';
import { createKeyCommand } from '../support/events.js';

const H = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g';
const now = new Date('2026-03-01T12:00:00.000Z');
const hours = (n: number): Date => new Date(now.getTime() + n * 3600_000);
const users = spec(userDecider);
const ws = spec(workspaceDecider);
const keys = spec(apiKeyDecider);

const register = (over: Record<string, unknown>) =>
  ({
    type: 'RegisterUser',
    userId: 'usr_1',
    email: 'a@b.c',
    name: 'A',
    passwordHash: H,
    systemRole: 'user',
    ...over,
  }) as Parameters<typeof userDecider.decide>[0];

describe('decider invariants: users', () => {
  it('refuses an e-mail that is not one, an empty name and an unknown system role', () => {
    users
      .given([])
      .when(register({ email: 'not an e-mail' }))
      .thenRefuses('INVALID_EMAIL');
    users
      .given([])
      .when(register({ email: 'a@b.c'.repeat(100) }))
      .thenRefuses('INVALID_EMAIL');
    users
      .given([])
      .when(register({ name: '   ' }))
      .thenRefuses('INVALID_TEXT');
    users
      .given([])
      .when(register({ systemRole: 'root' }))
      .thenRefuses('INVALID_SYSTEM_ROLE');
  });
  it('never stores anything but an argon2id hash (a programming error, not a client one)', () => {
    expect(() =>
      userDecider.decide(register({ passwordHash: 'correct horse battery staple' }), userDecider.initialState()),
    ).to.throw(TypeError);
  });
  it('records a failed password change and a lifted lockout as facts', () => {
    const registered = userDecider.decide(register({}), userDecider.initialState());
    users
      .given(registered)
      .when({ type: 'RecordPasswordChangeFailure', reason: 'bad_password' })
      .then([{ type: 'UserPasswordChangeFailed', data: { userId: 'usr_1', reason: 'bad_password' } }]);
    users
      .given(registered)
      .when({ type: 'LiftLockout' })
      .then([{ type: 'UserLockoutLifted', data: { userId: 'usr_1', email: 'a@b.c' } }]);
  });
});

const created: WorkspaceEvent[] = [
  { type: 'WorkspaceCreated', data: { workspaceId: 'ws_1', name: 'Acme', ownerId: 'usr_1' } },
  { type: 'WorkspaceMemberRoleSet', data: { workspaceId: 'ws_1', userId: 'usr_1', role: 'owner' } },
];
const invited: WorkspaceEvent = {
  type: 'WorkspaceInvitationCreated',
  data: {
    workspaceId: 'ws_1',
    invitationId: 'inv_1',
    email: 'bob@example.com',
    role: 'member',
    expiresAt: hours(24).toISOString(),
  },
};

describe('decider invariants: workspaces and invitations', () => {
  it('refuses an unknown role and an empty name', () => {
    ws.given(created)
      .when({ type: 'SetMemberRole', userId: 'usr_2', role: 'god' as WorkspaceRole })
      .thenRefuses('INVALID_ROLE');
    ws.given([])
      .when({ type: 'CreateWorkspace', workspaceId: 'ws_1', name: '', ownerId: 'usr_1' })
      .thenRefuses('INVALID_TEXT');
  });
  it('reads an unknown role in an old event as no membership', () => {
    const god: WorkspaceEvent = {
      type: 'WorkspaceMemberRoleSet',
      data: { workspaceId: 'ws_1', userId: 'usr_2', role: 'god' as WorkspaceRole },
    };
    ws.given([...created, god])
      .when({ type: 'RemoveMember', userId: 'usr_2' })
      .thenRefuses('NOT_A_MEMBER');
  });
  it('invites an address (lower-cased), once at a time, with a future expiry and a known role', () => {
    ws.given(created)
      .when({
        type: 'InviteMember',
        now,
        invitationId: 'inv_1',
        email: 'Bob@Example.com',
        role: 'member',
        expiresAt: hours(24),
      })
      .then([invited]);
    ws.given([...created, invited])
      .when({
        type: 'InviteMember',
        now,
        invitationId: 'inv_2',
        email: 'bob@example.com',
        role: 'admin',
        expiresAt: hours(24),
      })
      .thenRefuses('INVITATION_PENDING');
    ws.given(created)
      .when({ type: 'InviteMember', now, invitationId: 'inv_1', email: 'bob', role: 'member', expiresAt: hours(24) })
      .thenRefuses('INVALID_EMAIL');
    ws.given(created)
      .when({
        type: 'InviteMember',
        now,
        invitationId: 'inv_1',
        email: 'b@x.io',
        role: 'root' as WorkspaceRole,
        expiresAt: hours(24),
      })
      .thenRefuses('INVALID_ROLE');
    ws.given(created)
      .when({ type: 'InviteMember', now, invitationId: 'inv_1', email: 'b@x.io', role: 'member', expiresAt: hours(-1) })
      .thenRefuses('EXPIRY_IN_PAST');
    ws.given(created)
      .when({
        type: 'InviteMember',
        now,
        invitationId: 'inv_1',
        email: 'b@x.io',
        role: 'member',
        expiresAt: new Date(NaN),
      })
      .thenRefuses('INVALID_DATE');
  });
  it('lets only the addressee join, before the invitation expires, and only once', () => {
    const accept = (over: Record<string, unknown> = {}) => ({
      type: 'AcceptInvitation' as const,
      now,
      invitationId: 'inv_1',
      userId: 'usr_2',
      email: 'BOB@example.com',
      ...over,
    });
    ws.given([...created, invited])
      .when(accept())
      .then([
        { type: 'WorkspaceInvitationAccepted', data: { workspaceId: 'ws_1', invitationId: 'inv_1', userId: 'usr_2' } },
        { type: 'WorkspaceMemberRoleSet', data: { workspaceId: 'ws_1', userId: 'usr_2', role: 'member' } },
      ]);
    ws.given([...created, invited])
      .when(accept({ email: 'eve@example.com' }))
      .thenRefuses('INVITATION_NOT_FOUND');
    ws.given([...created, invited])
      .when(accept({ now: hours(25) }))
      .thenRefuses('INVITATION_EXPIRED');
    ws.given([...created, invited])
      .when(accept({ userId: 'usr_1' }))
      .thenRefuses('ALREADY_A_MEMBER');
    const accepted: WorkspaceEvent = {
      type: 'WorkspaceInvitationAccepted',
      data: { workspaceId: 'ws_1', invitationId: 'inv_1', userId: 'usr_2' },
    };
    ws.given([...created, invited, accepted])
      .when(accept())
      .thenRefuses('INVITATION_NOT_FOUND');
  });
  it('cancels or declines a pending invitation, and then it is gone', () => {
    ws.given([...created, invited])
      .when({ type: 'CancelInvitation', invitationId: 'inv_1', reason: 'declined' })
      .then([
        {
          type: 'WorkspaceInvitationCancelled',
          data: { workspaceId: 'ws_1', invitationId: 'inv_1', reason: 'declined' },
        },
      ]);
    ws.given(created)
      .when({ type: 'CancelInvitation', invitationId: 'inv_1', reason: 'cancelled' })
      .thenRefuses('INVITATION_NOT_FOUND');
  });
});

const create = (
  over: Partial<Extract<ApiKeyCommand, { type: 'CreateApiKey' }>> = {},
): Extract<ApiKeyCommand, { type: 'CreateApiKey' }> => createKeyCommand(now, { ownerRole: 'member', ...over });

describe('decider invariants: API keys', () => {
  it('refuses scopes the owner’s role does not hold, and malformed ones', () => {
    keys
      .given([])
      .when(create({ scopes: ['audit:read'] }))
      .thenRefuses('SCOPE_NOT_HELD');
    keys
      .given([])
      .when(create({ scopes: ['keys:read', 'Not A Scope'] }))
      .thenRefuses('INVALID_SCOPE');
    keys
      .given([])
      .when(create({ ownerRole: 'auditor', scopes: ['orders:write'] }))
      .thenRefuses('SCOPE_NOT_HELD');
    keys
      .given([])
      .when(create({ ownerRole: 'god', scopes: ['keys:read'] }))
      .thenRefuses('SCOPE_NOT_HELD');
    keys
      .given([])
      .when(create({ ownerRole: null }))
      .thenRefuses('NOT_A_MEMBER');
  });
  it('refuses an unknown format, an impossible date, a bad handle and an empty name', () => {
    keys
      .given([])
      .when(create({ format: 'pem' as 'opaque' }))
      .thenRefuses('INVALID_FORMAT');
    keys
      .given([])
      .when(create({ expiresAt: new Date('2027-02-30T00:00:00Z x') }))
      .thenRefuses('INVALID_DATE');
    keys
      .given([])
      .when(create({ handle: 'Has Spaces' }))
      .thenRefuses('INVALID_HANDLE');
    keys
      .given([])
      .when(create({ name: '' }))
      .thenRefuses('INVALID_TEXT');
    keys
      .given([])
      .when(create({ description: 'x'.repeat(1001) }))
      .thenRefuses('INVALID_TEXT');
  });
  it('stores requested scopes sorted and without duplicates', () => {
    const [e] = apiKeyDecider.decide(
      create({ scopes: ['keys:read', 'keys:create', 'keys:read'] }),
      apiKeyDecider.initialState(),
    );
    expect(e!.type === 'ApiKeyCreated' && e!.data.scopes).to.deep.equal(['keys:create', 'keys:read']);
  });
});
