// User aggregate: registration, password, activation, and the login facts the audit trail needs.
import type { SystemRole, UserEvent } from '../../events/catalog.js';
import { DomainError } from '../../events/errors.js';
import { assertNever, type Decider } from './decider.js';

export type UserCommand =
  | { type: 'RegisterUser'; userId: string; email: string; name: string; passwordHash: string; systemRole: SystemRole }
  | { type: 'ChangePassword'; passwordHash: string }
  | { type: 'DeactivateUser'; reason: string | null }
  | { type: 'ReactivateUser' }
  | { type: 'RecordLoginSuccess'; sessionId: string; expiresAt: Date }
  | { type: 'RecordLoginFailure'; email: string; reason: 'bad_password' | 'inactive' | 'throttled' }
  | { type: 'Logout'; sessionId: string };

export type UserState = { readonly exists: false } | { readonly exists: true; readonly userId: string; readonly active: boolean; readonly email: string };

function decide(cmd: UserCommand, state: UserState): UserEvent[] {
  if (cmd.type === 'RegisterUser') {
    if (state.exists) throw new DomainError('USER_EXISTS', `user ${cmd.userId} already exists`);
    const { userId, email, name, passwordHash, systemRole } = cmd;
    return [{ type: 'UserRegistered', data: { userId, email, name, passwordHash, systemRole } }];
  }
  if (!state.exists) throw new DomainError('USER_NOT_FOUND', 'the user does not exist');
  const userId = state.userId;
  switch (cmd.type) {
    case 'ChangePassword':
      return [{ type: 'UserPasswordChanged', data: { userId, passwordHash: cmd.passwordHash } }];
    case 'DeactivateUser':
      return state.active ? [{ type: 'UserDeactivated', data: { userId, reason: cmd.reason } }] : [];
    case 'ReactivateUser':
      return state.active ? [] : [{ type: 'UserReactivated', data: { userId } }];
    case 'RecordLoginSuccess':
      if (!state.active) throw new DomainError('USER_INACTIVE', 'the user is deactivated');
      return [{ type: 'UserLoginSucceeded', data: { userId, sessionId: cmd.sessionId, expiresAt: cmd.expiresAt.toISOString() } }];
    case 'RecordLoginFailure':
      return [{ type: 'UserLoginFailed', data: { userId, email: cmd.email, reason: cmd.reason } }];
    case 'Logout':
      return [{ type: 'UserLoggedOut', data: { userId, sessionId: cmd.sessionId } }];
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
      return state;
    default:
      return assertNever(event);
  }
}

export const userDecider: Decider<UserCommand, UserState, UserEvent> = { initialState: () => ({ exists: false }), decide, evolve };
