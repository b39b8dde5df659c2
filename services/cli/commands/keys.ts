// keys create | list | revoke | rotate: API keys, as the operator, through the same policy as the API.
import { accountResource, keyResource } from '../../access.js';
import { DomainError, ValidationError } from '../../domain/errors.js';
import { parseDuration } from '../../duration.js';
import { parseCommand } from '../args.js';
import { createKeyInput } from '../../schemas/inputs.js';
import {
  authorizeOperator,
  CLI,
  findUser,
  findWorkspace,
  out,
  validateFlags,
  withLedger,
  type Command,
} from '../command.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A duration flag in seconds (3600, 12h, 30d); null when not given. */
function seconds(flag: string, raw: string | undefined, allowZero = false): number | null {
  if (raw === undefined) return null;
  const s = parseDuration(raw, { allowZero });
  if (s === null)
    throw new ValidationError(flag, `--${flag} must be seconds or a duration such as 3600, 12h or 30d, got "${raw}"`);
  return s;
}

const create: Command = {
  name: 'keys create',
  args: '--user EMAIL|ID [--name N] [--workspace WS] [--expires-in 30d] [--scopes a:b,c:d] [--handle H] [--format opaque|jwt] [--retrievable]',
  summary: 'create a key for a user; its token is printed once',
  parse(argv) {
    const { values } = parseCommand(
      this.name,
      argv,
      {
        user: { type: 'string' },
        name: { type: 'string' },
        workspace: { type: 'string' },
        'expires-in': { type: 'string' },
        scopes: { type: 'string' },
        handle: { type: 'string' },
        format: { type: 'string' },
        retrievable: { type: 'boolean' },
      },
      { required: ['user'] },
    );
    const input = validateFlags(
      this.name,
      createKeyInput,
      {
        name: values.name,
        handle: values.handle,
        scopes: values.scopes === undefined ? undefined : values.scopes.split(',').map((x) => x.trim()),
        expiresIn: values['expires-in'],
        format: values.format,
      },
      { name: 'name', handle: 'handle', scopes: 'scopes', expiresIn: 'expires-in', format: 'format' },
    );
    const ttl = seconds('expires-in', values['expires-in']);
    const scopes = input.scopes ?? null;
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        const u = findUser(ledger, values.user!);
        const workspaceId =
          values.workspace === undefined ? u.defaultWorkspaceId : findWorkspace(ledger, values.workspace).id;
        if (workspaceId === null) throw new DomainError('NO_WORKSPACE', `${u.email} belongs to no workspace`);
        authorizeOperator(
          'key.create',
          { kind: 'new-key', workspaceId, scopes },
          { what: 'workspace', id: workspaceId },
        );
        const { key, token } = await ledger.keys.create(
          {
            userId: u.id,
            workspaceId,
            name: input.name ?? input.handle ?? 'cli key',
            handle: input.handle ?? null,
            scopes,
            expiresInSeconds: ttl,
            format: input.format ?? 'opaque',
            retrievable: values.retrievable === true,
          },
          CLI,
        );
        out({ id: key.id, token, expiresAt: iso(key.requestedExpiresAt) });
        return 0;
      });
  },
};

const list: Command = {
  name: 'keys list',
  args: '--user EMAIL|ID',
  summary: "a user's keys: id, display prefix, status, name (tab-separated)",
  parse(argv) {
    const { values } = parseCommand(this.name, argv, { user: { type: 'string' } }, { required: ['user'] });
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        const u = findUser(ledger, values.user!);
        authorizeOperator('account.read', accountResource(ledger.read, u.id), { what: 'user', id: values.user! });
        const { keyStatus } = await import('../../http/views.js'); // the status the API shows; loaded only here
        const now = ledger.now();
        for (const k of ledger.read.keysOf(u.id)) out(`${k.id}\t${k.start}\t${keyStatus(k, now)}\t${k.name}`);
        return 0;
      });
  },
};

const revoke: Command = {
  name: 'keys revoke',
  args: 'KEY_ID [--reason TEXT]',
  summary: 'revoke a key, permanently',
  parse(argv) {
    const { values, positionals } = parseCommand(
      this.name,
      argv,
      { reason: { type: 'string' } },
      { positionals: ['KEY_ID'] },
    );
    const id = positionals[0]!;
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        authorizeOperator('key.revoke', keyResource(ledger.read.key(id)), { what: 'key', id });
        const k = await ledger.keys.revoke(id, values.reason ?? null, CLI);
        out({ id: k.id, status: 'revoked' });
        return 0;
      });
  },
};

const rotate: Command = {
  name: 'keys rotate',
  args: 'KEY_ID [--grace 1h]',
  summary: 'rotate a key: a successor now (its token printed once), the old key retired after the grace (default 0)',
  parse(argv) {
    const { values, positionals } = parseCommand(
      this.name,
      argv,
      { grace: { type: 'string' } },
      { positionals: ['KEY_ID'] },
    );
    const id = positionals[0]!;
    const grace = seconds('grace', values.grace, true) ?? 0;
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        authorizeOperator('key.rotate', keyResource(ledger.read.key(id)), { what: 'key', id });
        const { key, token } = await ledger.keys.rotate(id, grace, CLI);
        const old = ledger.read.key(id);
        out({
          id: key.id,
          token,
          expiresAt: iso(key.requestedExpiresAt),
          predecessor: { id: old.id, retiresAt: iso(old.graceEndsAt) },
        });
        return 0;
      });
  },
};

export const keyCommands: readonly Command[] = [create, list, revoke, rotate];
