// Coded errors on the wire: every code has its own status (the map is checked against the closed ErrorCode union at
// compile time), the wire shows the code lower-case, and store and key-material failures never leak their details.
import { expect } from 'chai';
import type { LedgerError } from '../../events/errors.js';
import { ConcurrencyError, IdempotencyError, StoreUnavailableError } from '../../events/errors.js';
import { AccessDeniedError } from '../../services/access.js';
import { DomainError, NotFoundError, SecretError, ValidationError } from '../../services/domain/errors.js';
import { statusOf, toResponse } from '../../services/http/errors.js';

describe('unit: error codes', () => {
  it('gives each kind of code its status and shows the code lower-case', () => {
    const cases: Array<[LedgerError, number, string, string]> = [
      [new DomainError('KEY_NOT_FOUND', 'no key'), 404, 'client_error', 'key_not_found'],
      [new DomainError('INVALID_ROLE', 'bad role', { attr: 'role' }), 400, 'validation_error', 'invalid_role'],
      [new DomainError('USER_INACTIVE', 'inactive'), 400, 'client_error', 'user_inactive'],
      [new DomainError('HANDLE_TAKEN', 'taken', { attr: 'handle' }), 409, 'client_error', 'handle_taken'],
      [new NotFoundError('workspace', 'ws_x'), 404, 'client_error', 'not_found'],
      [new ValidationError('name', 'name is required', 'REQUIRED'), 400, 'validation_error', 'required'],
      [new ValidationError(null, 'bad'), 400, 'validation_error', 'invalid'],
      [new AccessDeniedError('SESSION_REQUIRED', 'keys:rotate'), 403, 'client_error', 'session_required'],
      [new ConcurrencyError('s', '1', '2'), 409, 'client_error', 'concurrency'],
      [new IdempotencyError('s', 'e'), 409, 'client_error', 'idempotency_conflict'],
    ];
    for (const [err, status, type, code] of cases) {
      const r = toResponse(err);
      expect(r.status, err.code).to.equal(status);
      expect(r.body.type, err.code).to.equal(type);
      expect(r.body.errors[0]!.code, err.code).to.equal(code);
      expect(r.internal, err.code).to.equal(false);
    }
  });

  it('an unavailable store is a 503 with Retry-After when retriable; key material problems are a plain 500', () => {
    const down = toResponse(new StoreUnavailableError('sqlite append failed: disk I/O error', null, true));
    expect(down).to.deep.include({ status: 503, headers: { 'Retry-After': '1' }, internal: true });
    expect(down.body.errors[0]!.code).to.equal('service_unavailable');
    for (const err of [
      new SecretError('MASTER_KEY_MISMATCH', 'kid differs'),
      new SecretError('SEALED_SECRET_CORRUPT', 'tag'),
    ]) {
      const r = toResponse(err);
      expect(r).to.deep.include({ status: 500, internal: true });
      expect(r.body.errors[0]).to.deep.equal({
        code: 'internal_error',
        detail: 'An internal error occurred.',
        attr: null,
        extra: null,
      });
    }
  });

  it('a code outside the union (only reachable by casting) is a logged 500, never a silent 400', () => {
    expect(statusOf('SOMETHING_NEW')).to.equal(500);
    expect(statusOf('toString')).to.equal(500);
    expect(statusOf('KEY_REVOKED')).to.equal(409);
  });
});
