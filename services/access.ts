// Asks the one policy (services/domain/policy.ts) about read-model views, and turns a refusal into a coded error.
import { AccessError, NotFoundError, type AccessErrorCode } from './domain/errors.js';
import type { ReadSide } from './commands/read-side.js';
import type { KeyView, UserView } from '../projections/read-model/views.js';
import {
  can,
  type AccountResource,
  type Actor,
  type Decision,
  type KeyActor,
  type KeyResource,
  type Operation,
  type Operations,
  type SessionActor,
} from './domain/policy.js';

/** The host operator at the CLI. */
export const OPERATOR: Actor = Object.freeze({ kind: 'operator' });

export function sessionActor(model: Pick<ReadSide, 'membershipsOf'>, user: UserView): SessionActor {
  return {
    kind: 'session',
    userId: user.id,
    email: user.email,
    systemAdmin: user.systemRole === 'admin',
    memberships: model.membershipsOf(user.id),
  };
}

export function keyActor(key: KeyView): KeyActor {
  return {
    kind: 'key',
    userId: key.owner.id,
    keyId: key.id,
    workspaceId: key.workspaceId,
    role: key.membership.role,
    scopes: key.scopes,
  };
}

export function keyResource(k: KeyView): KeyResource {
  return {
    kind: 'key',
    keyId: k.id,
    workspaceId: k.workspaceId,
    ownerId: k.owner.id,
    ownerRole: k.membership.role,
    scopes: k.scopes,
  };
}

export function accountResource(model: Pick<ReadSide, 'membershipsOf'>, userId: string): AccountResource {
  return { kind: 'account', userId, memberships: model.membershipsOf(userId) };
}

/** A policy refusal as the API reports it: 403 with a stable code and the permission that was missing. */
export class AccessDeniedError extends AccessError {
  constructor(code: AccessErrorCode, permission: string | null) {
    const detail: Record<AccessErrorCode, string> = {
      PERMISSION_DENIED: `You do not have permission to perform this action (${permission ?? 'denied'}).`,
      SESSION_REQUIRED: 'This action needs a login session; an API key cannot do it.',
      CONSENT_REQUIRED:
        'Nobody is added to a workspace without consent: send an invitation (POST /v1/workspaces/{id}/invitations).',
      EXCEEDS_CREDENTIAL: 'The result would be broader than the credential asking for it.',
    };
    super(code, detail[code], permission);
  }
}

/** Throws the refusal a decision carries; `subject` names what a 404 says was not found. */
export function enforce(d: Decision, subject: { what: string; id: string }): void {
  if (d.allow) return;
  switch (d.code) {
    case 'not_found':
      throw new NotFoundError(subject.what, subject.id);
    case 'permission_denied':
      throw new AccessDeniedError('PERMISSION_DENIED', d.permission);
    case 'session_required':
      throw new AccessDeniedError('SESSION_REQUIRED', d.permission);
    case 'consent_required':
      throw new AccessDeniedError('CONSENT_REQUIRED', d.permission);
    case 'exceeds_credential':
      throw new AccessDeniedError('EXCEEDS_CREDENTIAL', d.permission);
  }
}

export function authorize<O extends Operation>(
  actor: Actor,
  op: O,
  resource: Operations[O],
  subject: { what: string; id: string },
): void {
  enforce(can(actor, op, resource), subject);
}
