import type { UserEvent, WorkspaceEvent } from '../../events/catalog.js';
import { uniqueValueDecider } from '../../services/domain/unique-value.js';
import { userDecider } from '../../services/domain/user.js';
import { workspaceDecider } from '../../services/domain/workspace.js';
import { spec } from '../support/decider-spec.js';

const H = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g';
const H2 = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$b3RoZXJoYXNo';

const registered: UserEvent = {
  type: 'UserRegistered',
  data: { userId: 'usr_1', email: 'a@b.c', name: 'A', passwordHash: H, systemRole: 'user' },
};
const deactivated: UserEvent = { type: 'UserDeactivated', data: { userId: 'usr_1', reason: null } };
const users = spec(userDecider);

describe('user decider', () => {
  it('registers a user once', () => {
    users
      .given([])
      .when({ type: 'RegisterUser', userId: 'usr_1', email: 'a@b.c', name: 'A', passwordHash: H, systemRole: 'user' })
      .then([registered]);
    users
      .given([registered])
      .when({ type: 'RegisterUser', userId: 'usr_1', email: 'a@b.c', name: 'A', passwordHash: H, systemRole: 'user' })
      .thenRefuses('USER_EXISTS');
  });
  it('deactivates an active user, and only once', () => {
    users.given([registered]).when({ type: 'DeactivateUser', reason: null }).then([deactivated]);
    users.given([registered, deactivated]).when({ type: 'DeactivateUser', reason: null }).thenNothing();
  });
  it('reactivates a deactivated user', () => {
    users
      .given([registered, deactivated])
      .when({ type: 'ReactivateUser' })
      .then([{ type: 'UserReactivated', data: { userId: 'usr_1' } }]);
    users.given([registered]).when({ type: 'ReactivateUser' }).thenNothing();
  });
  it('refuses a login success for a deactivated user', () => {
    users
      .given([registered, deactivated])
      .when({ type: 'RecordLoginSuccess', sessionId: 'ses_1', expiresAt: new Date(0) })
      .thenRefuses('USER_INACTIVE');
  });
  it('records failed logins and password changes', () => {
    users
      .given([registered])
      .when({ type: 'RecordLoginFailure', email: 'a@b.c', reason: 'bad_password' })
      .then([{ type: 'UserLoginFailed', data: { userId: 'usr_1', email: 'a@b.c', reason: 'bad_password' } }]);
    users
      .given([registered])
      .when({ type: 'ChangePassword', passwordHash: H2 })
      .then([{ type: 'UserPasswordChanged', data: { userId: 'usr_1', passwordHash: H2 } }]);
  });
  it('refuses commands for unknown users', () => {
    users.given([]).when({ type: 'DeactivateUser', reason: null }).thenRefuses('USER_NOT_FOUND');
  });
});

const wsCreated: WorkspaceEvent[] = [
  { type: 'WorkspaceCreated', data: { workspaceId: 'ws_1', name: 'Acme', ownerId: 'usr_1' } },
  { type: 'WorkspaceMemberRoleSet', data: { workspaceId: 'ws_1', userId: 'usr_1', role: 'owner' } },
];
const ws = spec(workspaceDecider);

describe('workspace decider', () => {
  it('creates a workspace with its creator as owner', () => {
    ws.given([]).when({ type: 'CreateWorkspace', workspaceId: 'ws_1', name: 'Acme', ownerId: 'usr_1' }).then(wsCreated);
  });
  it('sets and removes member roles', () => {
    ws.given(wsCreated)
      .when({ type: 'SetMemberRole', userId: 'usr_2', role: 'member' })
      .then([{ type: 'WorkspaceMemberRoleSet', data: { workspaceId: 'ws_1', userId: 'usr_2', role: 'member' } }]);
    const withMember: WorkspaceEvent[] = [
      ...wsCreated,
      { type: 'WorkspaceMemberRoleSet', data: { workspaceId: 'ws_1', userId: 'usr_2', role: 'member' } },
    ];
    ws.given(withMember)
      .when({ type: 'RemoveMember', userId: 'usr_2' })
      .then([{ type: 'WorkspaceMemberRemoved', data: { workspaceId: 'ws_1', userId: 'usr_2' } }]);
    ws.given(withMember).when({ type: 'SetMemberRole', userId: 'usr_2', role: 'member' }).thenNothing();
  });
  it('keeps at least one owner', () => {
    ws.given(wsCreated).when({ type: 'RemoveMember', userId: 'usr_1' }).thenRefuses('LAST_OWNER');
    ws.given(wsCreated).when({ type: 'SetMemberRole', userId: 'usr_1', role: 'member' }).thenRefuses('LAST_OWNER');
  });
  it('refuses removing a non-member', () => {
    ws.given(wsCreated).when({ type: 'RemoveMember', userId: 'usr_9' }).thenRefuses('NOT_A_MEMBER');
  });
  it('sets a policy with positive limits only', () => {
    ws.given(wsCreated)
      .when({ type: 'SetPolicy', maxTtlSeconds: 3600, requireExpiry: true, maxGraceSeconds: null })
      .then([
        {
          type: 'WorkspacePolicySet',
          data: { workspaceId: 'ws_1', maxTtlSeconds: 3600, requireExpiry: true, maxGraceSeconds: null },
        },
      ]);
    ws.given(wsCreated)
      .when({ type: 'SetPolicy', maxTtlSeconds: -1, requireExpiry: false, maxGraceSeconds: null })
      .thenRefuses('INVALID_POLICY');
  });
});

const uniq = spec(uniqueValueDecider);
describe('unique value decider', () => {
  const at = new Date('2026-01-01T00:00:00.000Z');
  const claimed = {
    type: 'UniqueValueClaimed' as const,
    data: { scope: 'handle', value: 'ci', ownerId: 'key_1', claimedAt: at.toISOString() },
  };
  it('lets the first claimant win and refuses a live holder', () => {
    uniq
      .given([])
      .when({ type: 'ClaimValue', now: at, scope: 'handle', value: 'ci', ownerId: 'key_1', holderAlive: false })
      .then([claimed]);
    uniq
      .given([claimed])
      .when({ type: 'ClaimValue', now: at, scope: 'handle', value: 'ci', ownerId: 'key_2', holderAlive: true })
      .thenRefuses('VALUE_TAKEN');
  });
  it('lets a value whose holder is gone be claimed again', () => {
    uniq
      .given([claimed])
      .when({ type: 'ClaimValue', now: at, scope: 'handle', value: 'ci', ownerId: 'key_2', holderAlive: false })
      .then([
        {
          type: 'UniqueValueClaimed',
          data: { scope: 'handle', value: 'ci', ownerId: 'key_2', claimedAt: at.toISOString() },
        },
      ]);
  });
});
