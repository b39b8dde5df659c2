// Given/when/then for deciders: given past events, when a command, then new events or a refusal code.
import { expect } from 'chai';
import { LedgerError } from '../../events/errors.js';
import { fold, type Decider } from '../../services/domain/decider.js';
import type { ErrorCode } from '../../services/domain/errors.js';

export function spec<C, S, E>(decider: Decider<C, S, E>) {
  return {
    given(events: E[]) {
      return {
        when(command: C) {
          const run = (): E[] => decider.decide(command, fold(decider, events));
          return {
            then(expected: E[]): void {
              expect(run()).to.deep.equal(expected);
            },
            thenNothing(): void {
              expect(run()).to.deep.equal([]);
            },
            thenRefuses(code: ErrorCode): void {
              try {
                run();
              } catch (e) {
                expect(e).to.be.instanceOf(LedgerError);
                expect((e as LedgerError).code).to.equal(code);
                return;
              }
              expect.fail(`expected the command to be refused with ${code}`);
            },
          };
        },
      };
    },
  };
}
