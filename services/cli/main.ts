#!/usr/bin/env node
// token-ledger CLI: serve, manage users and keys, rebuild projections.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { LedgerError } from '../../events/errors.js';
import { createLogger } from '../logger.js';
import { startServer, type PluginFactory } from '../server.js';
import { openLedger } from '../open-ledger.js';
import type { Ledger } from '../ledger.js';
import { parseDuration } from '../duration.js';
import { keyStatus } from '../http/views.js';
import { ReadModel } from '../../projections/read-model/read-model.js';
import { toStoredEvent } from '../../events/serialization.js';
import { progressBar } from './progress.js';
import type { EventStore } from '../../events/store/types.js';
import { plugins } from './plugins.js';
import { accountResource, authorize, keyResource, OPERATOR } from '../access.js';
import type { Operation, Operations } from '../domain/policy.js';
import type { KeyFormat, WorkspaceRole } from '../../events/catalog.js';

const USAGE = `token-ledger <command>

  serve                                   run the HTTP service (same as npm start)
  users create --email E --name N [--password P] [--admin] [--workspace WS] [--role owner|admin|member|auditor]
  users list
  users deactivate|reactivate|unlock EMAIL|ID   (unlock lifts a failed-login lockout)
  keys create --user EMAIL|ID --name N [--expires-in 30d] [--scopes a:b,c:d] [--handle H] [--format opaque|jwt] [--retrievable]
  keys list --user EMAIL|ID
  keys revoke KEY_ID [--reason TEXT]
  rebuild                                 rebuild every projection from the event log
  audit verify --store [--jwks F] | FILE [--jwks F] [--manifest F]   verify the hash chain and signed checkpoints
  help

Configuration comes from the environment (see README).`;

const CLI = { actor: { type: 'service' as const, id: 'cli' } };

/** The CLI acts as the host operator; it still asks the one policy, like every route. */
function authorizeCli<O extends Operation>(op: O, resource: Operations[O]): void {
  authorize(OPERATOR, op, resource, { what: op, id: '' });
}

function out(obj: unknown): void {
  process.stdout.write(`${typeof obj === 'string' ? obj : JSON.stringify(obj, null, 2)}\n`);
}

async function withLedger<T>(config: Config, fn: (l: Ledger) => Promise<T>): Promise<T> {
  const { ledger } = await openLedger(config, { expiryTimer: false, log: () => undefined });
  await ledger.start();
  try {
    return await fn(ledger);
  } finally {
    await ledger.stop();
    await ledger.store.close();
  }
}

function findUser(ledger: Ledger, ref: string | undefined) {
  if (!ref) throw new ConfigError('--user is required');
  const u = ledger.read.findUser(ref) ?? ledger.read.userByEmail(ref.toLowerCase());
  if (!u) throw new ConfigError(`no user ${ref}`);
  return u;
}

export async function run(argv: string[], extra: PluginFactory[] = plugins): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help') {
    out(USAGE);
    return 0;
  }
  // After help: a bad environment must not hide the usage text.
  const config = loadConfig();
  switch (cmd) {
    case 'serve': {
      const logger = createLogger(config.logLevel);
      // Handlers first: a SIGTERM during start-up still shuts down cleanly once the server is up.
      const starting = startServer(config, logger, extra);
      const shutdown = (signal: string): void => {
        logger.info({ signal }, 'shutting down');
        starting
          .then((running) => running.close())
          .then(
            () => process.exit(0),
            (err: unknown) => {
              logger.error({ err }, 'shutdown failed');
              process.exit(1);
            },
          );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      const running = await starting;
      process.stdout.write(`token-ledger listening on ${running.url} (store: ${running.ledger.store.kind})\n`);
      return new Promise<number>(() => undefined);
    }
    case 'users': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          email: { type: 'string' },
          name: { type: 'string' },
          password: { type: 'string' },
          admin: { type: 'boolean' },
          workspace: { type: 'string' },
          role: { type: 'string' },
          reason: { type: 'string' },
        },
      });
      return withLedger(config, async (ledger) => {
        if (sub === 'create') {
          if (!values.email || !values.name) throw new ConfigError('--email and --name are required');
          const password = values.password ?? (await import('node:crypto')).randomBytes(18).toString('base64url');
          const workspaceId = values.workspace ?? ledger.read.workspaces().next().value?.id ?? null;
          const role = (values.role ?? 'member') as WorkspaceRole; // the decider refuses anything else
          authorizeCli('account.create', { kind: 'new-account', workspaceId, role, systemAdmin: values.admin === true });
          const u = await ledger.users.register(
            { email: values.email, name: values.name, password, systemRole: values.admin ? 'admin' : 'user', workspaceId, role },
            CLI,
          );
          // The very first user gets a workspace of their own, so they can hold keys.
          if (ledger.read.workspaces().next().done === true) await ledger.workspaces.create('default', u.id, CLI);
          out({ id: u.id, email: u.email, ...(values.password ? {} : { password }) });
          return 0;
        }
        if (sub === 'list') {
          authorizeCli('account.list', { kind: 'none' });
          for (const u of ledger.read.users()) out(`${u.id}\t${u.email}\t${u.systemRole}\t${u.active ? 'active' : 'deactivated'}`);
          return 0;
        }
        if (sub === 'deactivate' || sub === 'reactivate' || sub === 'unlock') {
          const u = findUser(ledger, positionals[0]);
          authorizeCli(`account.${sub}`, accountResource(ledger.read, u.id));
          if (sub === 'deactivate') await ledger.users.deactivate(u.id, values.reason ?? null, CLI);
          else if (sub === 'reactivate') await ledger.users.reactivate(u.id, CLI);
          else await ledger.users.liftLockout(u.id, CLI);
          out({ id: u.id, email: u.email, active: ledger.read.user(u.id).active, ...(sub === 'unlock' ? { lockout: 'lifted' } : {}) });
          return 0;
        }
        out(USAGE);
        return 2;
      });
    }
    case 'keys': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          user: { type: 'string' },
          name: { type: 'string' },
          'expires-in': { type: 'string' },
          scopes: { type: 'string' },
          handle: { type: 'string' },
          format: { type: 'string' },
          retrievable: { type: 'boolean' },
          reason: { type: 'string' },
        },
      });
      return withLedger(config, async (ledger) => {
        if (sub === 'create') {
          const u = findUser(ledger, values.user);
          const ttl = values['expires-in'] === undefined ? null : parseDuration(values['expires-in']);
          if (values['expires-in'] !== undefined && ttl === null) throw new ConfigError('--expires-in must be like 3600, 12h or 30d');
          const scopes = values.scopes ? values.scopes.split(',').map((x) => x.trim()) : null;
          const workspaceId = u.defaultWorkspaceId;
          if (workspaceId === null) throw new ConfigError(`${u.email} belongs to no workspace`);
          authorizeCli('key.create', { kind: 'new-key', workspaceId, scopes });
          const { key, token } = await ledger.keys.create(
            {
              userId: u.id,
              workspaceId,
              name: values.name ?? values.handle ?? 'cli key',
              handle: values.handle ?? null,
              scopes,
              expiresInSeconds: ttl,
              format: (values.format ?? 'opaque') as KeyFormat, // the ledger refuses anything else
              retrievable: values.retrievable === true,
            },
            CLI,
          );
          out({ id: key.id, token, expiresAt: key.requestedExpiresAt === null ? null : new Date(key.requestedExpiresAt).toISOString() });
          return 0;
        }
        if (sub === 'list') {
          const u = findUser(ledger, values.user);
          authorizeCli('account.read', accountResource(ledger.read, u.id));
          const now = ledger.clock().getTime();
          for (const k of ledger.read.keysOf(u.id) ?? []) out(`${k.id}\t${k.start}\t${keyStatus(k, now)}\t${k.name}`);
          return 0;
        }
        if (sub === 'revoke') {
          const id = positionals[0];
          if (!id) throw new ConfigError('keys revoke needs a key id');
          authorizeCli('key.revoke', keyResource(ledger.read.key(id)));
          const k = await ledger.keys.revoke(id, values.reason ?? null, CLI);
          out({ id: k.id, status: 'revoked' });
          return 0;
        }
        out(USAGE);
        return 2;
      });
    }
    case 'rebuild': {
      const { openStore } = await import('../open-ledger.js');
      const store = await openStore(config);
      try {
        const head = await store.headPosition();
        const model = new ReadModel();
        const bar = progressBar('read model', head);
        let after = -1;
        let n = 0;
        for (;;) {
          const page = await store.readAll({ after, maxCount: 5000 });
          for (const r of page.events) {
            const e = toStoredEvent(r);
            if (e) model.apply(e);
            n++;
          }
          after = page.lastPosition;
          bar.update(after);
          if (page.isEnd) break;
        }
        bar.done();
        for (const r of rebuilders) await r(config, store);
        out(`rebuilt from ${n} events: ${model.users.size} users, ${model.workspaces.size} workspaces, ${model.keysById.size} keys`);
        return 0;
      } finally {
        await store.close();
      }
    }
    case 'audit': {
      const { runAuditCli } = await import('../audit/cli.js');
      return runAuditCli(sub === undefined ? rest : [sub, ...rest], config);
    }
    default:
      out(USAGE);
      return 2;
  }
}

/** Persistent projections (e.g. the audit database) register their rebuild here. */
export const rebuilders: Array<(config: Config, store: EventStore) => Promise<void>> = [
  async (config, store) => {
    const [{ AuditDb }, { rebuildAudit }, { auditDbFile }, { auditExtensions }] = await Promise.all([
      import('../../projections/audit/audit-db.js'),
      import('../../projections/audit/projection.js'),
      import('../audit/plugin.js'),
      import('../../projections/audit/timeline.js'),
    ]);
    const db = new AuditDb(auditDbFile(config.dataDir), auditExtensions);
    try {
      const bar = progressBar('audit trail', await store.headPosition());
      const n = await rebuildAudit(db, store, (p) => bar.update(p));
      bar.done();
      out(`audit trail rebuilt from ${n} events (chain ${db.checkpoint.chain.slice(0, 16)}…)`);
    } finally {
      db.close();
    }
  },
];

const isMain = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof ConfigError) process.stderr.write(`token-ledger: ${err.message}\n`);
      else if (err instanceof LedgerError) process.stderr.write(`token-ledger: ${err.code}: ${err.message}\n`);
      else process.stderr.write(`token-ledger: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
