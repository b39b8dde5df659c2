// Key validity is one pure rule (services/domain/key-validity.ts): its phases at the edges, and the places that
// used to decide it on their own (read-model check, the key decider, point-in-time, the key JSON) answering with it.
import { expect } from 'chai';
import fc from 'fast-check';
import { KeyStatus, type KeyView, type UserView } from '../../projections/read-model/views.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { phaseAt } from '../../services/audit/point-in-time.js';
import { apiKeyDecider, type ApiKeyState } from '../../services/domain/api-key.js';
import {
  endOfLife,
  isLive,
  keyLifePhase,
  keyPhase,
  type KeyLifecycle,
  type KeyPhase,
} from '../../services/domain/key-validity.js';
import { keyStatus } from '../../services/http/views.js';

const T = Date.UTC(2026, 0, 1);

describe('unit: key validity', () => {
  it('answers each phase, with expiry and grace end as the first instant the key no longer works', () => {
    const cases: Array<[string, Parameters<typeof keyPhase>, KeyPhase]> = [
      ['never expires', ['active', null, null, true, 'member', T], 'active'],
      ['Infinity never expires', ['active', Infinity, null, true, 'member', T], 'active'],
      ['a millisecond before expiry', ['active', T + 1, null, true, 'member', T], 'active'],
      ['at expiry', ['active', T, null, true, 'member', T], 'expired'],
      ['expiry recorded early', ['expired', T + 1000, null, true, 'member', T], 'expired'],
      ['in the grace', ['active', null, T + 1, true, 'member', T], 'rotation_grace'],
      ['at the grace end', ['active', null, T, true, 'member', T], 'expired'],
      ['expiry before the grace end', ['active', T, T + 1000, true, 'member', T], 'expired'],
      ['revoked', ['revoked', null, null, true, 'member', T], 'revoked'],
      ['revoked beats everything', ['revoked', T - 1, T - 1, false, null, T], 'revoked'],
      ['expired beats the owner', ['active', T - 1, null, false, null, T], 'expired'],
      ['owner deactivated', ['active', null, null, false, 'owner', T], 'owner_inactive'],
      ['owner deactivated beats membership', ['active', null, T + 1, false, null, T], 'owner_inactive'],
      ['owner removed from the workspace', ['active', null, null, true, null, T], 'not_a_member'],
      ['in the grace, owner removed', ['active', null, T + 1, true, null, T], 'not_a_member'],
    ];
    for (const [what, args, phase] of cases) expect(keyPhase(...args), what).to.equal(phase);
    expect(
      ['active', 'rotation_grace', 'expired', 'revoked', 'owner_inactive', 'not_a_member'].filter((p) =>
        isLive(p as KeyPhase),
      ),
    ).to.deep.equal(['active', 'rotation_grace']);
    expect(endOfLife(null, null)).to.equal(null);
    expect(endOfLife(Infinity, null)).to.equal(null);
    expect(endOfLife(T, null)).to.equal(T);
    expect(endOfLife(null, T)).to.equal(T);
    expect(endOfLife(T + 5, T)).to.equal(T);
    expect(endOfLife(T, T + 5)).to.equal(T);
  });

  const facts = fc.record({
    status: fc.constantFrom<KeyLifecycle>('active', 'expired', 'revoked'),
    expiresAt: fc.option(fc.integer({ min: -3, max: 3 }).map((d) => T + d)),
    graceEndsAt: fc.option(fc.integer({ min: -3, max: 3 }).map((d) => T + d)),
    ownerActive: fc.boolean(),
    role: fc.constantFrom('owner', 'admin', 'member', 'auditor', null),
  });
  type Facts = typeof facts extends fc.Arbitrary<infer F> ? F : never;
  const STATUS = { active: KeyStatus.Active, expired: KeyStatus.Expired, revoked: KeyStatus.Revoked } as const;

  /** A read-model key with these facts; expiresAt lowered to the grace end, as ApiKeyRotated does. */
  function keyView(f: Facts): KeyView {
    const owner = { id: 'usr_1', active: f.ownerActive } as UserView;
    const eol = endOfLife(f.expiresAt, f.graceEndsAt);
    return {
      id: 'key_1',
      owner,
      membership: { role: f.role },
      scopes: null,
      status: STATUS[f.status],
      expiresAt: eol ?? Infinity,
      graceEndsAt: f.graceEndsAt,
      rotatedTo: f.graceEndsAt === null ? null : 'key_2',
    } as KeyView;
  }

  it('the read model verifies with it: VALID exactly when the phase is live, else the code of the phase', () => {
    const model = new ReadModel();
    const code = {
      active: 'VALID',
      rotation_grace: 'VALID',
      expired: 'EXPIRED',
      revoked: 'REVOKED',
      owner_inactive: 'OWNER_INACTIVE',
      not_a_member: 'NOT_A_MEMBER',
    };
    fc.assert(
      fc.property(facts, (f) => {
        const phase = keyPhase(f.status, f.expiresAt, f.graceEndsAt, f.ownerActive, f.role, T);
        const r = model.check(keyView(f), { now: T });
        expect(r.code).to.equal(code[phase]);
        expect(r.valid).to.equal(isLive(phase));
      }),
      { numRuns: 2000 },
    );
  });

  it('the key JSON status, the point-in-time phase and the decider refusals follow the key’s own phase', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const own = keyLifePhase(f.status, f.expiresAt, f.graceEndsAt, T);
        expect(keyStatus(keyView(f), T)).to.equal(own === 'rotation_grace' ? 'active' : own);
        const state: Extract<ApiKeyState, { exists: true }> = {
          exists: true,
          keyId: 'key_1',
          userId: 'usr_1',
          workspaceId: 'ws_1',
          status: f.status,
          expiresAt: f.expiresAt,
          retrievable: true,
          successorId: f.graceEndsAt === null ? null : 'key_2',
          graceEndsAt: f.graceEndsAt,
          name: 'n',
          description: null,
          alias: null,
        };
        expect(phaseAt(state, T)).to.equal(own);
        let refusal: string | null = null;
        try {
          apiKeyDecider.decide({ type: 'RevealApiKeySecret', now: new Date(T) }, state);
        } catch (e) {
          refusal = (e as { code: string }).code;
        }
        expect(refusal).to.equal(own === 'revoked' ? 'KEY_REVOKED' : own === 'expired' ? 'KEY_EXPIRED' : null);
      }),
      { numRuns: 2000 },
    );
  });
});
