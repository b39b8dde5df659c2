// Every code the ledger raises, as one closed union: a typo fails to compile, and services/http/errors.ts must give
// each code a status. Codes are UPPER_SNAKE here; the wire and the CLI show them lower-case (`key_not_found`).
import { LedgerError, type ErrorFields, type StoreErrorCode } from '../../events/errors.js';

/** A domain rule refused a command. */
export type DomainErrorCode =
  // values (services/domain/values.ts and the deciders' enums)
  | 'INVALID_EMAIL'
  | 'INVALID_TEXT'
  | 'INVALID_HANDLE'
  | 'INVALID_DATE'
  | 'INVALID_ROLE'
  | 'INVALID_SYSTEM_ROLE'
  | 'INVALID_REASON'
  | 'INVALID_FORMAT'
  | 'INVALID_SCOPE'
  | 'WEAK_PASSWORD'
  // users
  | 'USER_EXISTS'
  | 'USER_NOT_FOUND'
  | 'USER_INACTIVE'
  | 'EMAIL_TAKEN'
  // workspaces and invitations
  | 'WORKSPACE_EXISTS'
  | 'WORKSPACE_NOT_FOUND'
  | 'NO_WORKSPACE'
  | 'NOT_A_MEMBER'
  | 'ALREADY_A_MEMBER'
  | 'LAST_OWNER'
  | 'INVALID_POLICY'
  | 'INVITATION_NOT_FOUND'
  | 'INVITATION_PENDING'
  | 'INVITATION_EXPIRED'
  // keys
  | 'KEY_EXISTS'
  | 'KEY_NOT_FOUND'
  | 'KEY_REVOKED'
  | 'KEY_EXPIRED'
  | 'KEY_ALREADY_ROTATED'
  | 'KEY_NOT_RETRIEVABLE'
  | 'HANDLE_TAKEN'
  | 'SCOPE_NOT_HELD'
  | 'EXPIRY_REQUIRED'
  | 'EXPIRY_IN_PAST'
  | 'EXPIRY_TOO_FAR'
  | 'EXPIRY_BEYOND_POLICY'
  | 'EXPIRY_IMMUTABLE'
  | 'EXPIRY_AMBIGUOUS'
  | 'INVALID_GRACE'
  | 'GRACE_TOO_LONG'
  // unique values (e-mails, handles)
  | 'VALUE_TAKEN';

/** A request value that does not fit its schema: missing, unknown or malformed. */
export type ValidationErrorCode = 'INVALID' | 'REQUIRED' | 'UNKNOWN_FIELD';

/** A policy refusal (services/access.ts). */
export type AccessErrorCode = 'PERMISSION_DENIED' | 'SESSION_REQUIRED' | 'CONSENT_REQUIRED' | 'EXCEEDS_CREDENTIAL';

/** A sealed secret that cannot be opened: the operator's problem, never the client's. */
export type SecretErrorCode = 'MASTER_KEY_MISMATCH' | 'SEALED_SECRET_CORRUPT';

export type ErrorCode =
  StoreErrorCode | DomainErrorCode | ValidationErrorCode | AccessErrorCode | SecretErrorCode | 'NOT_FOUND';

export class DomainError extends LedgerError<DomainErrorCode> {
  constructor(code: DomainErrorCode, message: string, fields: ErrorFields = {}) {
    super(code, message, { fields });
  }
}

export class NotFoundError extends LedgerError<'NOT_FOUND'> {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} ${id} not found`, { fields: { what, id } });
  }
}

export class ValidationError extends LedgerError<ValidationErrorCode> {
  constructor(attr: string | null, message: string, code: ValidationErrorCode = 'INVALID') {
    super(code, message, { fields: { attr } });
  }
}

/** The base of the policy's refusals; `permission` names what was missing, when one was. */
export class AccessError extends LedgerError<AccessErrorCode> {
  constructor(code: AccessErrorCode, message: string, permission: string | null) {
    super(code, message, { fields: { permission } });
  }
}

export class SecretError extends LedgerError<SecretErrorCode> {
  constructor(code: SecretErrorCode, message: string, opts: { cause?: unknown; fields?: ErrorFields } = {}) {
    super(code, message, opts);
  }
}
