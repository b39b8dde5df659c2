// Several in-process servers on one fresh PostgreSQL database (one shared store), each with its own data folder and
// instance id; dispose() stops them all and drops the database.
import { randomBytes } from 'node:crypto';
import type { PluginFactory } from '../../services/server.js';
import { freshDatabase, type TestDatabase } from './postgres.js';
import { startTestServer, type TestServer } from './server.js';

export interface SharedServers {
  readonly db: TestDatabase;
  /** The LEDGER_MASTER_KEY every instance shares (for other processes joining them). */
  readonly masterKey: string;
  readonly servers: TestServer[];
  /** Starts one more instance on the same database (its id: `inst-<n>` unless given). */
  add(id?: string): Promise<TestServer>;
  /** Resolves once every running instance's read model has applied the store's head as it is now. */
  converged(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startSharedServers(
  label: string,
  count: number,
  env: Record<string, string> = {},
  plugins: PluginFactory[] = [],
): Promise<SharedServers> {
  const db = await freshDatabase(label);
  const masterKey = randomBytes(32).toString('base64');
  const servers: TestServer[] = [];
  const add = async (id = `inst-${servers.length + 1}`): Promise<TestServer> => {
    const s = await startTestServer(
      { ...env, LEDGER_DATABASE_URL: db.url, LEDGER_MASTER_KEY: masterKey, LEDGER_INSTANCE_ID: id },
      plugins,
    );
    servers.push(s);
    return s;
  };
  const self: SharedServers = {
    db,
    masterKey,
    servers,
    add,
    async converged() {
      const live = servers.filter((s) => s.running.closingStep === null);
      const head = await live[0]!.running.ledger.store.headPosition();
      await Promise.all(live.map((s) => s.running.ledger.read.waitFor(head)));
    },
    async dispose() {
      const failures: unknown[] = [];
      for (const s of servers) await s.dispose().catch((err: unknown) => failures.push(err));
      await db.drop();
      if (failures.length > 0) throw failures[0];
    },
  };
  try {
    // One after the other: the first creates the bootstrap admin and the shared signing key.
    for (let i = 0; i < count; i++) await add();
  } catch (err) {
    await self.dispose().catch(() => undefined);
    throw err;
  }
  return self;
}
