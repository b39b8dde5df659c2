// Multi-workspace worlds for authorization tests, built through the ledger's own commands and deciders.
// Accounts skip the argon2 hash (one precomputed hash of PASSWORD) and sessions skip the login round trip,
// so a test can make hundreds of them; everything else is the real command path.
import { streams, type WorkspaceRole } from '../../events/catalog.js';
import { hashPassword } from '../../services/crypto/passwords.js';
import { userDecider } from '../../services/domain/user.js';
import { SYSTEM, type Ledger } from '../../services/ledger.js';

export const PASSWORD = 'correct horse battery staple';
let hash: Promise<string> | undefined;
let seq = 0;

export interface Account {
  readonly id: string;
  readonly email: string;
}

export interface IssuedKey {
  readonly id: string;
  readonly token: string;
}

/** A readers-writer lock: any number of shared holders, or one exclusive holder, first come first served. */
class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Array<{ exclusive: boolean; go: () => void }> = [];

  async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((go) => {
      this.queue.push({ exclusive, go });
      this.admit();
    });
    try {
      return await fn();
    } finally {
      if (exclusive) this.writer = false;
      else this.readers--;
      this.admit();
    }
  }

  private admit(): void {
    for (let next = this.queue[0]; next !== undefined && !this.writer; next = this.queue[0]) {
      if (next.exclusive && this.readers > 0) return;
      this.queue.shift();
      if (next.exclusive) this.writer = true;
      else this.readers++;
      next.go();
    }
  }
}

export class World {
  private readonly gates = new Map<string, RwLock>();

  constructor(readonly ledger: Ledger) {}

  private gate(userId: string): RwLock {
    let g = this.gates.get(userId);
    if (g === undefined) this.gates.set(userId, (g = new RwLock()));
    return g;
  }

  /**
   * Runs a call made as `userId` outside any window in which orphanKey briefly makes that user a member again, so a
   * test sharing the actor between concurrent cases never sees its dead keys revived.
   */
  asUser<T>(userId: string, call: () => Promise<T>): Promise<T> {
    return this.gate(userId).run(false, call);
  }

  /** A new account, a member of `memberships` with those roles; not hashed anew (one shared hash of PASSWORD). */
  async account(memberships: Record<string, WorkspaceRole> = {}, systemAdmin = false): Promise<Account> {
    const userId = this.ledger.ids.id('usr');
    const email = `u${++seq}.${userId.slice(4, 12).toLowerCase()}@example.com`;
    const passwordHash = await (hash ??= hashPassword(PASSWORD));
    await this.ledger.bus.execute(
      userDecider,
      streams.user(userId),
      {
        type: 'RegisterUser',
        userId,
        email,
        name: `User ${seq}`,
        passwordHash,
        systemRole: systemAdmin ? 'admin' : 'user',
      },
      SYSTEM,
    );
    for (const [ws, role] of Object.entries(memberships))
      await this.ledger.workspaces.setMemberRole(ws, userId, role, SYSTEM);
    return { id: userId, email };
  }

  /** A login session for the account, recorded like a real login (the password check is what it skips). */
  async session(userId: string): Promise<string> {
    const sessionId = this.ledger.ids.id('ses');
    const now = this.ledger.clock();
    const expiresAt = new Date(now.getTime() + 3600_000);
    const token = await this.ledger.jwt.signSession(userId, sessionId, now, expiresAt);
    await this.ledger.users.recordLoginSuccess(userId, sessionId, expiresAt, { actor: { type: 'user', id: userId } });
    return token;
  }

  async key(
    userId: string,
    workspaceId: string,
    opts: { scopes?: string[] | null; retrievable?: boolean; name?: string } = {},
  ): Promise<IssuedKey> {
    const { key, token } = await this.ledger.keys.create(
      {
        userId,
        workspaceId,
        name: opts.name ?? 'k',
        scopes: opts.scopes ?? null,
        retrievable: opts.retrievable ?? false,
      },
      SYSTEM,
    );
    return { id: key.id, token };
  }

  async workspace(ownerId: string, name = 'ws'): Promise<string> {
    return (await this.ledger.workspaces.create(name, ownerId, SYSTEM)).id;
  }

  /** A key of a workspace its owner was then removed from: it exists, but is dead. */
  async orphanKey(
    userId: string,
    workspaceId: string,
    opts: { scopes?: string[] | null; retrievable?: boolean } = {},
  ): Promise<IssuedKey> {
    return this.gate(userId).run(true, async () => {
      const had = this.ledger.read.roleOf(workspaceId, userId);
      if (had === null) await this.ledger.workspaces.setMemberRole(workspaceId, userId, 'member', SYSTEM);
      const k = await this.key(userId, workspaceId, opts);
      await this.ledger.workspaces.removeMember(workspaceId, userId, SYSTEM);
      return k;
    });
  }
}
