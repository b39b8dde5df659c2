// What every command shares: its shape, the ledger it opens, how it finds users and workspaces, how it asks the policy.
import type { z } from 'zod';
import type { Config } from '../config.js';
import { parseInput } from '../schemas/parse.js';
import { UsageError } from './args.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import type { Operation, Operations } from '../domain/policy.js';
import { authorize, OPERATOR } from '../access.js';
import type { Ledger } from '../ledger.js';
import { openLedger } from '../open-ledger.js';
import type { PluginModule } from '../server.js';
import type { UserView, WorkspaceView } from '../../projections/read-model/views.js';

export interface CliContext {
  readonly config: Config;
  /** The registered plugins (services/cli/plugins.ts). */
  readonly modules: readonly PluginModule[];
}

/** The work a command does once its arguments are parsed and the configuration is loaded; resolves to the exit code. */
export type Run = (cli: CliContext) => Promise<number>;

export interface Command {
  /** The words that name it, e.g. "users create". */
  readonly name: string;
  /** Its arguments, for the usage text. */
  readonly args: string;
  readonly summary: string;
  /** Parses the arguments (a UsageError when they are wrong) before the configuration is even read. */
  parse(argv: readonly string[]): Run;
}

/** Every command acts as this service actor in the events it writes. */
export const CLI = { actor: { type: 'service' as const, id: 'cli' } };

/** The CLI acts as the host operator; it still asks the one policy, like every route. */
export function authorizeOperator<O extends Operation>(
  op: O,
  resource: Operations[O],
  subject: { what: string; id: string },
): void {
  authorize(OPERATOR, op, resource, subject);
}

/**
 * Checks flag values with the same schemas the API uses (services/schemas): a bad value is a usage error (exit 2)
 * naming the flag. `flags` maps schema fields to the flags that carry them.
 */
export function validateFlags<S extends z.ZodType>(
  command: string,
  schema: S,
  input: Record<string, unknown>,
  flags: Record<string, string>,
): z.output<S> {
  try {
    return parseInput(schema, input);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const attr = typeof err.fields.attr === 'string' ? err.fields.attr : '';
    const cut = attr.search(/[.[]/);
    const field = cut < 0 ? attr : attr.slice(0, cut);
    throw new UsageError(`${command}: --${flags[field] ?? field}: ${err.message}`);
  }
}

export function out(obj: unknown): void {
  process.stdout.write(`${typeof obj === 'string' ? obj : JSON.stringify(obj, null, 2)}\n`);
}

/** Opens the ledger (read model built from the log), runs `fn`, and always stops it and closes the store. */
export async function withLedger<T>(config: Config, fn: (l: Ledger) => Promise<T>): Promise<T> {
  const { ledger } = await openLedger(config, { expiryTimer: false, log: () => undefined });
  try {
    await ledger.start();
    return await fn(ledger);
  } finally {
    await ledger.stop().catch(() => undefined);
    await ledger.store.close();
  }
}

/** A user by id or e-mail. */
export function findUser(ledger: Ledger, ref: string): UserView {
  const u = ledger.read.findUser(ref) ?? ledger.read.userByEmail(ref);
  if (!u) throw new NotFoundError('user', ref);
  return u;
}

/** A workspace by id, or by a name only one workspace has. */
export function findWorkspace(ledger: Ledger, ref: string): WorkspaceView {
  const byId = ledger.read.findWorkspace(ref);
  if (byId) return byId;
  const named = [...ledger.read.workspaces()].filter((w) => w.name === ref);
  if (named.length > 1)
    throw new ValidationError(
      'workspace',
      `${named.length} workspaces are named "${ref}"; give the id (token-ledger workspaces list)`,
    );
  if (named[0] === undefined) throw new NotFoundError('workspace', ref);
  return named[0];
}
