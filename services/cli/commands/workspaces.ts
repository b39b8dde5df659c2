// workspaces create | list, members set | remove: tenants and who belongs to them, as the operator, through the same
// policy as the API (the operator outranks every role and, like a system admin, may add a member without an invitation).
import type { WorkspaceRole } from '../../../events/catalog.js';
import type { MemberResource } from '../../domain/policy.js';
import type { Ledger } from '../../ledger.js';
import type { UserView, WorkspaceView } from '../../../projections/read-model/views.js';
import { parseCommand } from '../args.js';
import { z } from 'zod';
import { createWorkspaceInput, role as roleSchema } from '../../schemas/inputs.js';
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

const roleInput = z.strictObject({ role: roleSchema });

function workspaceLine(ledger: Ledger, w: WorkspaceView): string {
  const members = [...w.members.values()].filter((m) => m.role !== null).length;
  return `${w.id}\t${w.name}\t${ledger.read.findUser(w.ownerId)?.email ?? w.ownerId}\t${members} members`;
}

function memberResource(
  ledger: Ledger,
  ws: WorkspaceView,
  user: UserView,
  newRole: WorkspaceRole | null,
): MemberResource {
  return { kind: 'member', workspaceId: ws.id, userId: user.id, role: ledger.read.roleOf(ws.id, user.id), newRole };
}

const create: Command = {
  name: 'workspaces create',
  args: '--name N --owner EMAIL|ID',
  summary: 'create a workspace owned by a user',
  parse(argv) {
    const { values } = parseCommand(
      this.name,
      argv,
      { name: { type: 'string' }, owner: { type: 'string' } },
      { required: ['name', 'owner'] },
    );
    const { name } = validateFlags(this.name, createWorkspaceInput, { name: values.name }, { name: 'name' });
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        const owner = findUser(ledger, values.owner!);
        authorizeOperator('workspace.create', { kind: 'none' }, { what: 'workspace', id: '' });
        const ws = await ledger.workspaces.create(name, owner.id, CLI);
        out({ id: ws.id, name: ws.name, owner: { id: owner.id, email: owner.email } });
        return 0;
      });
  },
};

const list: Command = {
  name: 'workspaces list',
  args: '',
  summary: 'every workspace: id, name, owner, member count (tab-separated)',
  parse(argv) {
    parseCommand(this.name, argv, {});
    return ({ config }) =>
      withLedger(config, (ledger) => {
        for (const w of ledger.read.workspaces()) {
          authorizeOperator(
            'workspace.read',
            { kind: 'workspace', workspaceId: w.id },
            { what: 'workspace', id: w.id },
          );
          out(workspaceLine(ledger, w));
        }
        return Promise.resolve(0);
      });
  },
};

const setMember: Command = {
  name: 'members set',
  args: '--workspace WS --user EMAIL|ID --role owner|admin|member|auditor',
  summary: 'add a user to a workspace, or change their role there',
  parse(argv) {
    const { values } = parseCommand(
      this.name,
      argv,
      { workspace: { type: 'string' }, user: { type: 'string' }, role: { type: 'string' } },
      { required: ['workspace', 'user', 'role'] },
    );
    const { role } = validateFlags(this.name, roleInput, { role: values.role }, { role: 'role' });
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        const ws = findWorkspace(ledger, values.workspace!);
        const user = findUser(ledger, values.user!);
        const target = memberResource(ledger, ws, user, role);
        authorizeOperator(target.role === null ? 'member.add' : 'member.role', target, {
          what: 'user',
          id: values.user!,
        });
        await ledger.workspaces.setMemberRole(ws.id, user.id, role, CLI);
        out({ workspace: ws.id, user: { id: user.id, email: user.email }, role: ledger.read.roleOf(ws.id, user.id) });
        return 0;
      });
  },
};

const removeMember: Command = {
  name: 'members remove',
  args: '--workspace WS --user EMAIL|ID',
  summary: 'remove a user from a workspace; their keys there stop at once',
  parse(argv) {
    const { values } = parseCommand(
      this.name,
      argv,
      { workspace: { type: 'string' }, user: { type: 'string' } },
      { required: ['workspace', 'user'] },
    );
    return ({ config }) =>
      withLedger(config, async (ledger) => {
        const ws = findWorkspace(ledger, values.workspace!);
        const user = findUser(ledger, values.user!);
        authorizeOperator('member.remove', memberResource(ledger, ws, user, null), { what: 'user', id: values.user! });
        await ledger.workspaces.removeMember(ws.id, user.id, CLI);
        out({ workspace: ws.id, user: { id: user.id, email: user.email }, role: null });
        return 0;
      });
  },
};

export const workspaceCommands: readonly Command[] = [create, list, setMember, removeMember];
