// The authorization matrix, generated from the decision table in docs/authorization.md: every actor kind × role ×
// same or other workspace × operation, run over HTTP against a real server. The document is the specification:
// a route that drifts from it, or a table that drifts from the code, fails here.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { plugins } from '../../services/cli/plugins.js';
import { SYSTEM } from '../../services/ledger.js';
import { ADMIN_EMAIL, startTestServer, type Res, type TestServer } from '../support/server.js';
import { PASSWORD, World, type IssuedKey } from '../support/world.js';
import type { WorkspaceRole } from '../../events/catalog.js';

export const KINDS = ['session', 'system admin session', 'key', 'scoped key', 'system admin key'] as const;
export type Kind = (typeof KINDS)[number];
export const ROLES = ['owner', 'admin', 'member', 'auditor', 'none'] as const;
export type Role = (typeof ROLES)[number];
export type Where = 'same' | 'other';

/** What a call came to: ✓ allowed, · allowed but the other tenant's data is hidden, or the HTTP status of a refusal. */
type Outcome = string;

interface Actor {
  readonly userId: string;
  readonly email: string;
  readonly token: string;
  /** The acting key, for key kinds. */
  readonly keyId: string | null;
}

interface Case {
  readonly s: TestServer;
  readonly w: World;
  readonly actor: Actor;
  /** The workspace the resource lives in: T (the actor's) or O (another one). */
  readonly ws: string;
  readonly where: Where;
  readonly role: Role;
  readonly kind: Kind;
}

interface Op {
  readonly name: string;
  /** The call changes the actor itself (its keys, password, sessions, memberships): it gets an actor of its own. */
  readonly fresh?: boolean;
  run(c: Case): Promise<Outcome>;
}

const outcome = (r: Res, hidden = false): Outcome => {
  if (r.status >= 500) throw new Error(`5xx: ${r.status} ${r.text}`);
  if (r.status >= 200 && r.status < 300) return hidden ? '·' : '✓';
  return String(r.status);
};

// Cases share actors: a request as one never overlaps an orphanKey window that briefly revives its keys.
const as = (c: Case, method: string, path: string, body?: unknown): Promise<Res> =>
  c.w.asUser(c.actor.userId, () => c.s.request(method, path, { token: c.actor.token, body }));

/** A fresh member of the resource workspace, with a live retrievable key there. */
async function memberWithKey(c: Case, role: WorkspaceRole = 'member'): Promise<{ id: string; key: IssuedKey }> {
  const u = await c.w.account({ [c.ws]: role });
  return { id: u.id, key: await c.w.key(u.id, c.ws, { retrievable: true }) };
}

/** The actor's own retrievable key in the resource workspace; a dead one where the actor is no member. */
async function ownKey(c: Case): Promise<IssuedKey> {
  const member = c.w.ledger.read.roleOf(c.ws, c.actor.userId) !== null;
  return member
    ? c.w.key(c.actor.userId, c.ws, { retrievable: true })
    : c.w.orphanKey(c.actor.userId, c.ws, { retrievable: true });
}

export const OPS: Op[] = [
  {
    name: 'create an account in the workspace (member)',
    run: async (c) =>
      outcome(
        await as(c, 'POST', '/v1/users', {
          email: `n${Math.random()}@example.com`,
          name: 'N',
          password: PASSWORD,
          workspaceId: c.ws,
        }),
      ),
  },
  {
    name: 'create an account in the workspace (admin)',
    run: async (c) =>
      outcome(
        await as(c, 'POST', '/v1/users', {
          email: `n${Math.random()}@example.com`,
          name: 'N',
          password: PASSWORD,
          workspaceId: c.ws,
          role: 'admin',
        }),
      ),
  },
  {
    name: "read a member's account",
    run: async (c) => outcome(await as(c, 'GET', `/v1/users/${(await memberWithKey(c)).id}`)),
  },
  {
    name: "deactivate a member's account",
    run: async (c) => outcome(await as(c, 'POST', `/v1/users/${(await memberWithKey(c)).id}/deactivate`, {})),
  },
  {
    name: "reactivate a member's account",
    run: async (c) => {
      const m = await memberWithKey(c);
      await c.w.ledger.users.deactivate(m.id, null, SYSTEM);
      return outcome(await as(c, 'POST', `/v1/users/${m.id}/reactivate`));
    },
  },
  {
    name: "lift a member's lockout",
    run: async (c) => outcome(await as(c, 'POST', `/v1/users/${(await memberWithKey(c)).id}/unlock`)),
  },
  {
    name: "revoke all of a member's keys",
    run: async (c) => outcome(await as(c, 'POST', `/v1/users/${(await memberWithKey(c)).id}/keys/revoke`, {})),
  },
  {
    name: "revoke all of another owner's keys",
    run: async (c) => outcome(await as(c, 'POST', `/v1/users/${(await memberWithKey(c, 'owner')).id}/keys/revoke`, {})),
  },
  {
    name: 'revoke all of my own keys',
    fresh: true,
    run: async (c) => {
      await ownKey(c);
      return outcome(await as(c, 'POST', '/v1/users/me/keys/revoke', {}));
    },
  },
  {
    name: 'change my password',
    fresh: true,
    run: async (c) =>
      outcome(
        await as(c, 'PUT', '/v1/users/me/password', { currentPassword: PASSWORD, newPassword: `${PASSWORD} again` }),
      ),
  },
  { name: 'list accounts', run: async (c) => outcome(await as(c, 'GET', '/v1/users')) },
  { name: 'log out', fresh: true, run: async (c) => outcome(await as(c, 'POST', '/v1/auth/logout')) },
  { name: 'who am I', run: async (c) => outcome(await as(c, 'GET', '/v1/auth/me')) },
  {
    name: 'create a workspace',
    fresh: true,
    run: async (c) => outcome(await as(c, 'POST', '/v1/workspaces', { name: 'mine' })),
  },
  { name: 'read the workspace', run: async (c) => outcome(await as(c, 'GET', `/v1/workspaces/${c.ws}`)) },
  {
    name: 'set the workspace policy',
    run: async (c) => outcome(await as(c, 'PUT', `/v1/workspaces/${c.ws}/policy`, { maxGracePeriod: '1d' })),
  },
  {
    name: 'add a non-member without an invitation',
    run: async (c) =>
      outcome(await as(c, 'PUT', `/v1/workspaces/${c.ws}/members/${(await c.w.account()).id}`, { role: 'member' })),
  },
  {
    name: "change a member's role (member → auditor)",
    run: async (c) =>
      outcome(await as(c, 'PUT', `/v1/workspaces/${c.ws}/members/${(await memberWithKey(c)).id}`, { role: 'auditor' })),
  },
  {
    name: 'make a member an owner',
    run: async (c) =>
      outcome(await as(c, 'PUT', `/v1/workspaces/${c.ws}/members/${(await memberWithKey(c)).id}`, { role: 'owner' })),
  },
  {
    name: 'remove a member',
    run: async (c) => outcome(await as(c, 'DELETE', `/v1/workspaces/${c.ws}/members/${(await memberWithKey(c)).id}`)),
  },
  {
    name: 'remove another owner',
    run: async (c) =>
      outcome(await as(c, 'DELETE', `/v1/workspaces/${c.ws}/members/${(await memberWithKey(c, 'owner')).id}`)),
  },
  {
    name: 'invite someone (member)',
    run: async (c) =>
      outcome(
        await as(c, 'POST', `/v1/workspaces/${c.ws}/invitations`, {
          email: `i${Math.random()}@example.com`,
          role: 'member',
        }),
      ),
  },
  {
    name: "list the workspace's invitations",
    run: async (c) => outcome(await as(c, 'GET', `/v1/workspaces/${c.ws}/invitations`)),
  },
  {
    name: 'accept an invitation addressed to me',
    fresh: true,
    run: async (c) => {
      const inv = await c.w.ledger.workspaces.invite(c.ws, c.actor.email, 'member', 3600, SYSTEM);
      return outcome(await as(c, 'POST', `/v1/invitations/${inv.id}/accept`));
    },
  },
  {
    name: 'leave the workspace',
    fresh: true,
    run: async (c) => outcome(await as(c, 'DELETE', `/v1/workspaces/${c.ws}/members/${c.actor.userId}`)),
  },
  {
    name: 'create a key (unscoped)',
    run: async (c) => outcome(await as(c, 'POST', '/v1/keys', { name: 'n', workspaceId: c.ws })),
  },
  {
    name: 'create a key scoped to keys:read',
    run: async (c) => outcome(await as(c, 'POST', '/v1/keys', { name: 'n', workspaceId: c.ws, scopes: ['keys:read'] })),
  },
  {
    name: "list the workspace's keys (mine)",
    run: async (c) => outcome(await as(c, 'GET', `/v1/keys?workspaceId=${c.ws}`)),
  },
  { name: 'read my key', run: async (c) => outcome(await as(c, 'GET', `/v1/keys/${(await ownKey(c)).id}`)) },
  {
    name: "read a member's key",
    run: async (c) => outcome(await as(c, 'GET', `/v1/keys/${(await memberWithKey(c)).key.id}`)),
  },
  {
    name: 'rename my key',
    run: async (c) => outcome(await as(c, 'PATCH', `/v1/keys/${(await ownKey(c)).id}`, { name: 'renamed' })),
  },
  {
    name: "rename a member's key",
    run: async (c) => outcome(await as(c, 'PATCH', `/v1/keys/${(await memberWithKey(c)).key.id}`, { name: 'renamed' })),
  },
  {
    name: 'reveal my unscoped key',
    run: async (c) => outcome(await as(c, 'GET', `/v1/keys/${(await ownKey(c)).id}/token`)),
  },
  {
    name: "reveal a member's key",
    run: async (c) => outcome(await as(c, 'GET', `/v1/keys/${(await memberWithKey(c)).key.id}/token`)),
  },
  {
    name: 'rotate my unscoped key',
    run: async (c) => outcome(await as(c, 'POST', `/v1/keys/${(await ownKey(c)).id}/rotate`, {})),
  },
  {
    name: 'revoke my key',
    run: async (c) => outcome(await as(c, 'POST', `/v1/keys/${(await ownKey(c)).id}/revoke`, {})),
  },
  {
    name: "revoke a member's key",
    run: async (c) => outcome(await as(c, 'POST', `/v1/keys/${(await memberWithKey(c)).key.id}/revoke`, {})),
  },
  {
    name: "revoke another owner's key",
    run: async (c) => outcome(await as(c, 'POST', `/v1/keys/${(await memberWithKey(c, 'owner')).key.id}/revoke`, {})),
  },
  {
    name: "verify a member's token",
    run: async (c) => {
      const r = await as(c, 'POST', '/v1/keys/verify', { token: (await memberWithKey(c)).key.token });
      return outcome(r, r.status === 200 && r.body.valid !== true);
    },
  },
  {
    name: "introspect a member's token",
    run: async (c) => {
      const r = await as(c, 'POST', '/oauth/introspect', { token: (await memberWithKey(c)).key.token });
      return outcome(r, r.status === 200 && r.body.active !== true);
    },
  },
  {
    name: "read a key's history",
    run: async (c) => outcome(await as(c, 'GET', `/v1/keys/${(await memberWithKey(c)).key.id}/history`)),
  },
  {
    name: 'read a key as of an instant',
    run: async (c) =>
      outcome(await as(c, 'GET', `/v1/keys/${(await memberWithKey(c)).key.id}?asOf=${new Date().toISOString()}`)),
  },
  {
    name: "query the workspace's audit trail",
    run: async (c) => outcome(await as(c, 'GET', `/v1/audit?workspaceId=${c.ws}&limit=1`)),
  },
  {
    name: "export the workspace's audit trail",
    run: async (c) => {
      const r = await as(c, 'GET', `/v1/audit/export?workspaceId=${c.ws}&format=csv`);
      return outcome(r);
    },
  },
  {
    name: 'list keys valid at an instant',
    run: async (c) => outcome(await as(c, 'GET', `/v1/workspaces/${c.ws}/keys?validAt=${new Date().toISOString()}`)),
  },
  {
    name: "see the workspace's revocations",
    run: async (c) => {
      const m = await memberWithKey(c);
      const before = c.w.ledger.read.position;
      await c.w.ledger.keys.revoke(m.key.id, 'matrix', SYSTEM);
      await waitForFeed(c.s, before, m.key.id);
      const r = await as(c, 'GET', `/v1/revocations?after=${before}&limit=1000`);
      return outcome(
        r,
        r.status === 200 && !(r.body.items as Array<{ subject: string }>).some((i) => i.subject === m.key.id),
      );
    },
  },
];

let adminSession = '';
/** The feed is its own subscription: wait until a system admin sees the item before asking as the actor. */
async function waitForFeed(s: TestServer, after: number, keyId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await s.request('GET', `/v1/revocations?after=${after}&limit=1000`, { token: adminSession });
    if ((r.body?.items as Array<{ subject: string }> | undefined)?.some((it) => it.subject === keyId)) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`the revocation of ${keyId} never reached the feed`);
}

/** The decision table: one markdown table per actor kind, rows = operations, cells = outcomes (same | other). */
export function readDecisionTable(
  path = new URL('../../../docs/authorization.md', import.meta.url),
): Map<Kind, Map<string, Outcome[]>> {
  const text = readFileSync(path, 'utf8');
  const tables = new Map<Kind, Map<string, Outcome[]>>();
  let current: Map<string, Outcome[]> | null = null;
  for (const line of text.split('\n')) {
    const h = /^### Matrix: (.+)$/.exec(line);
    if (h) {
      const kind = h[1]!.trim() as Kind;
      if (!KINDS.includes(kind)) throw new Error(`unknown actor kind in the table: ${kind}`);
      tables.set(kind, (current = new Map()));
      continue;
    }
    if (current === null || !line.startsWith('|') || line.startsWith('| operation') || line.startsWith('| ---'))
      continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((x) => x.trim());
    if (cells.length !== 11) throw new Error(`a matrix row needs 11 cells: ${line}`);
    current.set(cells[0]!, cells.slice(1));
  }
  return tables;
}

describe('e2e: authorization matrix (docs/authorization.md)', function () {
  this.timeout(600_000);
  let s: TestServer;
  let w: World;
  let T = '';
  let O = '';
  const actors = new Map<string, Actor>();

  before(async () => {
    s = await startTestServer({}, plugins);
    w = new World(s.running.ledger);
    adminSession = await s.login();
    const boss = s.running.ledger.read.userByEmail(ADMIN_EMAIL)!;
    T = await w.workspace(boss.id, 'T');
    O = await w.workspace(boss.id, 'O');
  });
  after(async () => {
    await s.dispose();
  });

  /** An actor of `kind` whose role in T is `role` ("none": not a member; its keys are in T but dead). */
  async function makeActor(kind: Kind, role: Role): Promise<Actor> {
    const sys = kind === 'system admin session' || kind === 'system admin key';
    const u = await w.account(role === 'none' ? {} : { [T]: role }, sys);
    if (kind === 'session' || kind === 'system admin session')
      return { userId: u.id, email: u.email, token: await w.session(u.id), keyId: null };
    const held = role === 'auditor' ? ['keys:read'] : ['keys:create', 'keys:read'];
    const scopes = kind === 'scoped key' ? held : null;
    const k = role === 'none' ? await w.orphanKey(u.id, T, { scopes }) : await w.key(u.id, T, { scopes });
    return { userId: u.id, email: u.email, token: k.token, keyId: k.id };
  }

  async function actorFor(kind: Kind, role: Role, fresh: boolean): Promise<Actor> {
    if (fresh) return makeActor(kind, role);
    const id = `${kind}/${role}`;
    let a = actors.get(id);
    if (a === undefined) actors.set(id, (a = await makeActor(kind, role)));
    return a;
  }

  it('matches the decision table for every actor kind, role, workspace and operation', async () => {
    const table = readDecisionTable();
    const mismatches: string[] = [];
    let cases = 0;
    for (const kind of KINDS) {
      const rows = table.get(kind);
      expect(rows, `a table for ${kind}`).to.not.equal(undefined);
      const names = new Set(OPS.map((o) => o.name));
      for (const row of rows!.keys())
        expect(names.has(row), `"${row}" (${kind}) is an operation the test knows`).to.equal(true);
      const jobs: Array<() => Promise<void>> = [];
      for (const op of OPS) {
        const expected = rows!.get(op.name);
        expect(expected, `a row for "${op.name}" in the ${kind} table`).to.not.equal(undefined);
        for (const [wi, where] of (['same', 'other'] as const).entries()) {
          for (const [ri, role] of ROLES.entries()) {
            const want = expected![wi * 5 + ri]!;
            jobs.push(async () => {
              const actor = await actorFor(kind, role, op.fresh === true);
              const got = await op.run({ s, w, actor, ws: where === 'same' ? T : O, where, role, kind });
              cases++;
              if (got !== want)
                mismatches.push(`${kind} | ${role} | ${where} | ${op.name}: table says ${want}, got ${got}`);
            });
          }
        }
      }
      await pool(jobs, 4);
    }
    console.log(
      `      authorization matrix: ${cases} cases (${KINDS.length} actor kinds × ${ROLES.length} roles × 2 workspaces × ${OPS.length} operations)`,
    );
    expect(mismatches, mismatches.join('\n')).to.deep.equal([]);
  });
});

async function pool(jobs: Array<() => Promise<void>>, n: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: n }, worker));
}
