// Which node-postgres errors are worth trying again: the one classification every PostgreSQL adapter uses.
import { expect } from 'chai';
import { StoreUnavailableError } from '../../events/errors.js';
import { pgError, pgRetriable } from '../../events/store/pg-errors.js';

const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('unit: PostgreSQL error classification', () => {
  const cases: Array<[string, unknown, boolean]> = [
    [
      'terminated by an administrator (57P01)',
      withCode('57P01', 'terminating connection due to administrator command'),
      true,
    ],
    ['connection failure (08006)', withCode('08006'), true],
    ['too many connections (53300)', withCode('53300'), true],
    ['serialization failure (40001)', withCode('40001'), true],
    ['deadlock (40P01)', withCode('40P01'), true],
    ['lock not available (55P03)', withCode('55P03'), true],
    ['a reset socket', withCode('ECONNRESET'), true],
    ['a refused connection', withCode('ECONNREFUSED'), true],
    ['a connection the server closed', new Error('Connection terminated unexpectedly'), true],
    [
      'a client used after its connection broke',
      new Error('Client has encountered a connection error and is not queryable'),
      true,
    ],
    ['a unique violation (23505)', withCode('23505', 'duplicate key value violates unique constraint'), false],
    ['an undefined table (42P01)', withCode('42P01', 'relation "x" does not exist'), false],
    ['a read-only transaction (25006)', withCode('25006', 'cannot execute INSERT in a read-only transaction'), false],
    ['an authentication failure (28P01)', withCode('28P01', 'password authentication failed'), false],
    ['not an Error at all', 'boom', false],
    ['null', null, false],
  ];
  for (const [what, err, retriable] of cases)
    it(`${what}: ${retriable ? 'retriable' : 'not retriable'}`, () => {
      expect(pgRetriable(err)).to.equal(retriable);
      const e = pgError(err, 'audit write');
      expect(e).to.be.instanceOf(StoreUnavailableError);
      expect(e.code).to.equal('STORE_UNAVAILABLE');
      expect(e.retriable).to.equal(retriable);
      expect(e.message).to.match(/^postgres audit write failed: /);
    });

  it('a ledger error passes through as it is', () => {
    const original = new StoreUnavailableError('store is closed', null, false);
    expect(pgError(original, 'append')).to.equal(original);
  });
});
