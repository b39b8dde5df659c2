// Property tests of the one policy function over random multi-workspace worlds. Each property is a principle of
// docs/authorization.md, checked by an oracle written independently of the policy's own code.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  can,
  OPERATIONS,
  type Actor,
  type KeyResource,
  type MembershipLike,
  type Operation,
  type Resource,
} from '../../services/domain/policy.js';
import { effectiveScopes, permissionsOf, rankOf, roleAllows } from '../../services/domain/permissions.js';

const WS = ['ws_a', 'ws_b', 'ws_c'] as const;
const USERS = ['usr_1', 'usr_2', 'usr_3', 'usr_4'] as const;
const ROLE = fc.constantFrom<string | null>('owner', 'admin', 'member', 'auditor', null, 'god', 'Owner');
const SCOPES = [
  'keys:create',
  'keys:read',
  'keys:revoke',
  'keys:verify',
  'keys:manage',
  'audit:read',
  'audit:export',
  'users:manage',
  'workspaces:manage',
  'orders:read',
];
const scopeSet = fc.option(fc.subarray(SCOPES), { nil: null }).map((s) => (s === null ? null : new Set(s)));
const memberships = fc.dictionary(
  fc.constantFrom(...WS),
  ROLE.map((role): MembershipLike => ({ role })),
);
const asMap = (d: Record<string, MembershipLike>): ReadonlyMap<string, MembershipLike> => new Map(Object.entries(d));

const sessionArb = fc
  .record({ userId: fc.constantFrom(...USERS), systemAdmin: fc.boolean(), m: memberships })
  .map((x): Actor => ({
    kind: 'session',
    userId: x.userId,
    email: `${x.userId}@x.io`,
    systemAdmin: x.systemAdmin,
    memberships: asMap(x.m),
  }));
const keyActorArb = fc
  .record({ userId: fc.constantFrom(...USERS), ws: fc.constantFrom(...WS), role: ROLE, scopes: scopeSet })
  .map((x): Actor => ({
    kind: 'key',
    userId: x.userId,
    keyId: 'key_actor',
    workspaceId: x.ws,
    role: x.role,
    scopes: x.scopes,
  }));
const actorArb = fc.oneof(sessionArb, keyActorArb, fc.constant<Actor>({ kind: 'operator' }));

const keyArb = fc
  .record({ ws: fc.constantFrom(...WS), owner: fc.constantFrom(...USERS), role: ROLE, scopes: scopeSet })
  .map((x): KeyResource => ({
    kind: 'key',
    keyId: 'key_t',
    workspaceId: x.ws,
    ownerId: x.owner,
    ownerRole: x.role,
    scopes: x.scopes,
  }));
const roleArb = fc.constantFrom('owner', 'admin', 'member', 'auditor' as const);
const resourceArb: fc.Arbitrary<Resource> = fc.oneof(
  fc
    .record({ userId: fc.constantFrom(...USERS), m: memberships })
    .map((x): Resource => ({ kind: 'account', userId: x.userId, memberships: asMap(x.m) })),
  fc
    .record({ ws: fc.option(fc.constantFrom(...WS), { nil: null }), role: roleArb, sys: fc.boolean() })
    .map((x): Resource => ({ kind: 'new-account', workspaceId: x.ws, role: x.role, systemAdmin: x.sys })),
  fc.constantFrom(...WS).map((w): Resource => ({ kind: 'workspace', workspaceId: w })),
  fc
    .record({
      ws: fc.constantFrom(...WS),
      u: fc.constantFrom(...USERS),
      role: ROLE,
      newRole: fc.option(roleArb, { nil: null }),
    })
    .map((x): Resource => ({ kind: 'member', workspaceId: x.ws, userId: x.u, role: x.role, newRole: x.newRole })),
  fc
    .record({ ws: fc.constantFrom(...WS), u: fc.constantFrom(...USERS) })
    .map((x): Resource => ({ kind: 'invitation', workspaceId: x.ws, email: `${x.u}@x.io` })),
  keyArb,
  fc
    .record({ ws: fc.constantFrom(...WS), scopes: fc.option(fc.subarray(SCOPES), { nil: null }) })
    .map((x): Resource => ({ kind: 'new-key', workspaceId: x.ws, scopes: x.scopes })),
  fc.constant<Resource>({ kind: 'none' }),
);

/** The resource shape each operation takes (a call with another shape is a programming error, not a case). */
const RESOURCE_OF: Record<Operation, Resource['kind']> = {
  'account.create': 'new-account',
  'account.read': 'account',
  'account.list': 'none',
  'account.deactivate': 'account',
  'account.reactivate': 'account',
  'account.unlock': 'account',
  'account.password': 'account',
  'session.logout': 'account',
  'workspace.create': 'none',
  'workspace.read': 'workspace',
  'workspace.policy': 'workspace',
  'member.add': 'member',
  'member.role': 'member',
  'member.remove': 'member',
  'invitation.create': 'member',
  'invitation.manage': 'workspace',
  'invitation.respond': 'invitation',
  'key.create': 'new-key',
  'key.list': 'workspace',
  'key.read': 'key',
  'key.update': 'key',
  'key.reveal': 'key',
  'key.rotate': 'key',
  'key.revoke': 'key',
  'key.verify': 'workspace',
  'audit.read': 'workspace',
  'audit.export': 'workspace',
  'feed.read': 'workspace',
};

const callArb = fc
  .tuple(actorArb, fc.constantFrom(...OPERATIONS), resourceArb)
  .filter(([, op, r]) => RESOURCE_OF[op] === r.kind)
  .map(([a, op, r]) => ({ a, op, r }));

// Independent oracle helpers: what the principles say, not how policy.ts computes it.
const KNOWN = new Set(['owner', 'admin', 'member', 'auditor']);
const isSuper = (a: Actor): boolean => a.kind === 'operator' || (a.kind === 'session' && a.systemAdmin);
function roleIn(a: Actor, ws: string): string | null {
  if (a.kind === 'operator') return 'owner';
  if (a.kind === 'session') return a.systemAdmin ? 'owner' : (a.memberships.get(ws)?.role ?? null);
  return ws === a.workspaceId ? a.role : null;
}
const member = (a: Actor, ws: string): boolean => KNOWN.has(roleIn(a, ws) ?? '');
const workspaceOf = (r: Resource): string | null =>
  r.kind === 'workspace' || r.kind === 'member' || r.kind === 'key' || r.kind === 'new-key' || r.kind === 'invitation'
    ? r.workspaceId
    : r.kind === 'new-account'
      ? r.workspaceId
      : null;
const actorScopes = (a: Actor, ws: string): Set<string> =>
  a.kind === 'key' ? new Set(effectiveScopes(roleIn(a, ws), a.scopes)) : new Set(permissionsOf(roleIn(a, ws)));
const RUNS = 20_000;

describe('policy properties (fast-check)', () => {
  it('is total: every operation on its resource answers allow or a known deny code, never throws', () => {
    fc.assert(
      fc.property(callArb, ({ a, op, r }) => {
        const d = can(a, op, r as never);
        expect(
          d.allow ||
            ['not_found', 'permission_denied', 'session_required', 'consent_required', 'exceeds_credential'].includes(
              d.code,
            ),
        ).to.equal(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('never gives a non-system actor power in a workspace it has no role in (own-account and own-key narrowing aside)', () => {
    fc.assert(
      fc.property(callArb, ({ a, op, r }) => {
        const ws = workspaceOf(r);
        if (isSuper(a) || ws === null || member(a, ws) || !can(a, op, r as never).allow) return;
        // Allowed outside its tenants: only what narrows or concerns the actor's own account.
        const own =
          a.kind !== 'operator' &&
          ((r.kind === 'key' && r.ownerId === a.userId) || (r.kind === 'member' && r.userId === a.userId));
        expect({ op, kind: a.kind, own }).to.deep.include({ kind: 'session' });
        expect(['key.read', 'key.revoke', 'member.remove', 'invitation.respond']).to.include(op);
        if (op !== 'invitation.respond') expect(own).to.equal(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('binds a key to its workspace: nothing outside it, no account-wide power, nothing that needs a session', () => {
    fc.assert(
      fc.property(fc.tuple(keyActorArb, fc.constantFrom(...OPERATIONS), resourceArb), ([a, op, r]) => {
        if (RESOURCE_OF[op] !== r.kind || a.kind !== 'key' || !can(a, op, r as never).allow) return;
        const ws = workspaceOf(r);
        if (ws !== null) expect(ws).to.equal(a.workspaceId);
        expect(op).to.not.be.oneOf([
          'account.deactivate',
          'account.reactivate',
          'account.unlock',
          'account.password',
          'session.logout',
          'workspace.create',
          'member.add',
          'invitation.respond',
        ]);
        if (op === 'account.read' && r.kind === 'account' && r.userId !== a.userId)
          expect(permissionsOf(a.role).has('users:manage')).to.equal(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('never yields a credential broader than the caller: created, revealed and rotated keys stay within it', () => {
    fc.assert(
      fc.property(callArb, ({ a, op, r }) => {
        if (
          !['key.create', 'key.reveal', 'key.rotate', 'account.create'].includes(op) ||
          !can(a, op, r as never).allow ||
          isSuper(a)
        )
          return;
        const ws = workspaceOf(r)!;
        const mine = actorScopes(a, ws);
        if (r.kind === 'new-key' && a.kind === 'key' && a.scopes !== null) {
          expect(r.scopes, 'a scoped key never creates an unscoped one').to.not.equal(null);
          for (const s of r.scopes!) expect(a.scopes.has(s), s).to.equal(true);
        }
        if (r.kind === 'key') {
          expect(r.ownerId, 'only the owner gets a key handed out').to.equal((a as { userId: string }).userId);
          if (a.kind === 'key' && a.scopes !== null) {
            expect(r.scopes, 'a scoped key never gets an unscoped one').to.not.equal(null);
            for (const s of r.scopes!) if (roleAllows(r.ownerRole, s)) expect(a.scopes.has(s), s).to.equal(true);
          }
        }
        if (r.kind === 'new-account') for (const p of permissionsOf(r.role)) expect(mine.has(p), p).to.equal(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('lets nobody act on someone who outranks them', () => {
    fc.assert(
      fc.property(callArb, ({ a, op, r }) => {
        if (isSuper(a) || !can(a, op, r as never).allow) return;
        const ws = workspaceOf(r);
        if (ws === null) return;
        const mine = rankOf(roleIn(a, ws));
        if (r.kind === 'member' && !(op === 'member.remove' && a.kind === 'session' && r.userId === a.userId)) {
          expect(mine).to.be.at.least(rankOf(r.role));
          expect(mine).to.be.at.least(rankOf(r.newRole));
        }
        if (
          r.kind === 'key' &&
          r.ownerId !== (a as { userId: string }).userId &&
          (op === 'key.revoke' || op === 'key.update')
        )
          expect(mine).to.be.at.least(rankOf(r.ownerRole));
        if (r.kind === 'new-account') expect(mine).to.be.at.least(rankOf(r.role));
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps account-wide actions and consent-free adds for system admins and the operator', () => {
    fc.assert(
      fc.property(callArb, ({ a, op, r }) => {
        if (
          ['account.deactivate', 'account.reactivate', 'account.unlock', 'member.add'].includes(op) &&
          can(a, op, r as never).allow
        )
          expect(isSuper(a)).to.equal(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('never lets a key gain power by having more scopes taken away (monotone in scopes)', () => {
    fc.assert(
      fc.property(keyActorArb, fc.constantFrom(...OPERATIONS), resourceArb, fc.subarray(SCOPES), (a, op, r, drop) => {
        if (RESOURCE_OF[op] !== r.kind || a.kind !== 'key' || can(a, op, r as never).allow) return;
        const narrower: Actor = {
          ...a,
          scopes: new Set([...(a.scopes ?? new Set(SCOPES))].filter((s) => !drop.includes(s))),
        };
        expect(can(narrower, op, r as never).allow).to.equal(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('reads an unknown role exactly as no role at all', () => {
    fc.assert(
      fc.property(callArb, fc.constantFrom('god', 'Owner', 'root'), ({ a, op, r }, unknown) => {
        const blank = (x: string | null): string | null => (x === null || KNOWN.has(x) ? x : null);
        const withUnknown = a.kind === 'key' && a.role === null ? { ...a, role: unknown } : a;
        const cleaned = a.kind === 'key' ? { ...a, role: blank(a.role) } : a;
        expect(can(withUnknown, op, r as never)).to.deep.equal(can(cleaned, op, r as never));
      }),
      { numRuns: RUNS },
    );
  });

  after(() => console.log(`      policy properties: ${RUNS} runs each`));
});
