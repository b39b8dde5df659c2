// users create | list | deactivate | reactivate | unlock: accounts, as the operator, through the same policy as the API.
import { randomBytes } from 'node:crypto';
import { accountResource } from '../../access.js';
import { parseCommand, type OptionSpecs } from '../args.js';
import { createAccountInput } from '../../schemas/inputs.js';
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

/** Stands in for a password the command generates, so the schema checks only a given one. */
const GENERATED = 'a password the command generates';

const create: Command = {
  name: 'users create',
  args: '--email E --name N [--password P] [--admin] [--workspace WS] [--role owner|admin|member|auditor]',
  summary: 'create an account (a random password is printed when none is given)',
  parse(argv) {
    const { values } = parseCommand(
      this.name,
      argv,
      {
        email: { type: 'string' },
        name: { type: 'string' },
        password: { type: 'string' },
        admin: { type: 'boolean' },
        workspace: { type: 'string' },
        role: { type: 'string' },
      },
      { required: ['email', 'name'] },
    );
    const input = validateFlags(
      this.name,
      createAccountInput,
      { email: values.email, name: values.name, password: values.password ?? GENERATED, role: values.role },
      { email: 'email', name: 'name', password: 'password', role: 'role' },
    );
    const { email, name } = input;
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        const password = values.password ?? randomBytes(18).toString('base64url');
        const workspaceId =
          values.workspace === undefined
            ? (ledger.read.workspaces().next().value?.id ?? null)
            : findWorkspace(ledger, values.workspace).id;
        const role = input.role ?? 'member';
        const admin = values.admin === true;
        authorizeOperator(
          'account.create',
          { kind: 'new-account', workspaceId, role, systemAdmin: admin },
          { what: 'user', id: email },
        );
        const u = await ledger.users.register(
          { email, name, password, systemRole: admin ? 'admin' : 'user', workspaceId, role },
          CLI,
        );
        // The very first user gets a workspace of their own, so they can hold keys.
        if (ledger.read.workspaces().next().done === true) await ledger.workspaces.create('default', u.id, CLI);
        out({ id: u.id, email: u.email, ...(values.password === undefined ? { password } : {}) });
        return 0;
      });
  },
};

const list: Command = {
  name: 'users list',
  args: '',
  summary: 'every account: id, e-mail, system role, state (tab-separated)',
  parse(argv) {
    parseCommand(this.name, argv, {});
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        authorizeOperator('account.list', { kind: 'none' }, { what: 'user', id: '' });
        for (const u of ledger.read.users())
          out(`${u.id}\t${u.email}\t${u.systemRole}\t${u.active ? 'active' : 'deactivated'}`);
        return Promise.resolve(0);
      });
  },
};

type AccountAction = 'deactivate' | 'reactivate' | 'unlock';

/** deactivate, reactivate and unlock share their shape: one account, one event. */
function accountCommand(action: AccountAction, summary: string): Command {
  const options: OptionSpecs = action === 'deactivate' ? { reason: { type: 'string' } } : {};
  return {
    name: `users ${action}`,
    args: action === 'deactivate' ? 'EMAIL|ID [--reason TEXT]' : 'EMAIL|ID',
    summary,
    parse(argv) {
      const { values, positionals } = parseCommand(this.name, argv, options, { positionals: ['EMAIL|ID'] });
      const ref = positionals[0]!;
      return ({ config }) =>
        withLedger(config, async (ledger) => {
          const u = findUser(ledger, ref);
          authorizeOperator(`account.${action}`, accountResource(ledger.read, u.id), { what: 'user', id: ref });
          if (action === 'deactivate') await ledger.users.deactivate(u.id, values.reason ?? null, CLI);
          else if (action === 'reactivate') await ledger.users.reactivate(u.id, CLI);
          else await ledger.users.liftLockout(u.id, CLI);
          out({
            id: u.id,
            email: u.email,
            active: ledger.read.user(u.id).active,
            ...(action === 'unlock' ? { lockout: 'lifted' } : {}),
          });
          return 0;
        });
    },
  };
}

export const userCommands: readonly Command[] = [
  create,
  list,
  accountCommand('deactivate', 'deactivate an account: its sessions end and its keys stop working'),
  accountCommand('reactivate', 'reactivate a deactivated account'),
  accountCommand('unlock', 'lift a failed-login lockout'),
];
