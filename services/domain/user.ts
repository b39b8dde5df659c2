// User aggregate: registration, password, activation, and the login facts the audit trail needs.
import type { SystemRole, UserEvent } from '../../events/catalog.js';
import { DomainError } from './errors.js';
import { assertNever, type Decider } from './decider.js';
import { requireEmail, requireOneOf, requireOptionalText, requireText, EMAIL_MAX, REASON_MAX } from './values.js';

const SYSTEM_ROLES: readonly SystemRole[] = ['admin', 'user'];

/** Only an argon2id hash is ever stored: a clear-text or weaker hash must not become a fact. */
function requirePasswordHash(h: unknown): string {
  if (typeof h !== 'string' || !h.startsWith('$argon2id$') || h.length > 512)
    throw new TypeError('passwordHash must be an argon2id hash');
  return h;
}

export type UserCommand =
  | { type: 'RegisterUser'; userId: string; email: string; name: string; passwordHash: string; systemRole: SystemRole }
  | { type: 'ChangePassword'; passwordHash: string }
  | { type: 'DeactivateUser'; reason: string | null }
  | { type: 'ReactivateUser' }
  | { type: 'RecordLoginSuccess'; sessionId: string; expiresAt: Date }
  | { type: 'RecordLoginFailure'; email: string; reason: 'bad_password' | 'inactive' | 'throttled' }
  | { type: 'Logout'; sessionId: string }
  | { type: 'RecordPasswordChangeFailure'; reason: 'bad_password' | 'throttled' }
  | { type: 'LiftLockout' };

export type UserState =
  | { readonly exists: false }
  | { readonly exists: true; readonly userId: string; readonly active: boolean; readonly email: string };

function decide(cmd: UserCommand, state: UserState): UserEvent[] {
  if (cmd.type === 'RegisterUser') {
    if (state.exists) throw new DomainError('USER_EXISTS', `user ${cmd.userId} already exists`);
    const data = {
      userId: cmd.userId,
      email: requireEmail(cmd.email),
      name: requireText(cmd.name, 'name'),
      passwordHash: requirePasswordHash(cmd.passwordHash),
      systemRole: requireOneOf(cmd.systemRole, SYSTEM_ROLES, 'systemRole', 'INVALID_SYSTEM_ROLE'),
    };
    return [{ type: 'UserRegistered', data }];
  }
  if (!state.exists) throw new DomainError('USER_NOT_FOUND', 'the user does not exist');
  const userId = state.userId;
  switch (cmd.type) {
    case 'ChangePassword':
      return [{ type: 'UserPasswordChanged', data: { userId, passwordHash: requirePasswordHash(cmd.passwordHash) } }];
    case 'DeactivateUser': {
      const reason = requireOptionalText(cmd.reason, 'reason', REASON_MAX);
      return state.active ? [{ type: 'UserDeactivated', data: { userId, reason } }] : [];
    }
    case 'ReactivateUser':
      return state.active ? [] : [{ type: 'UserReactivated', data: { userId } }];
    case 'RecordLoginSuccess':
      if (!state.active) throw new DomainError('USER_INACTIVE', 'the user is deactivated');
      return [
        {
          type: 'UserLoginSucceeded',
          data: { userId, sessionId: cmd.sessionId, expiresAt: cmd.expiresAt.toISOString() },
        },
      ];
    case 'RecordLoginFailure':
      return [
        {
          type: 'UserLoginFailed',
          data: { userId, email: requireOptionalText(cmd.email, 'email', EMAIL_MAX) ?? '', reason: cmd.reason },
        },
      ];
    case 'Logout':
      return [{ type: 'UserLoggedOut', data: { userId, sessionId: cmd.sessionId } }];
    case 'RecordPasswordChangeFailure':
      return [{ type: 'UserPasswordChangeFailed', data: { userId, reason: cmd.reason } }];
    case 'LiftLockout':
      return [{ type: 'UserLockoutLifted', data: { userId, email: state.email } }];
    default:
      return assertNever(cmd);
  }
}

function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered':
      return { exists: true, userId: event.data.userId, active: true, email: event.data.email };
    case 'UserDeactivated':
      return state.exists ? { ...state, active: false } : state;
    case 'UserReactivated':
      return state.exists ? { ...state, active: true } : state;
    case 'UserPasswordChanged':
    case 'UserLoginSucceeded':
    case 'UserLoginFailed':
    case 'UserLoggedOut':
    case 'UserPasswordChangeFailed':
    case 'UserLockoutLifted':
      return state;
    default:
      return assertNever(event);
  }
}

export const userDecider: Decider<UserCommand, UserState, UserEvent> = {
  initialState: () => ({ exists: false }),
  decide,
  evolve,
};
