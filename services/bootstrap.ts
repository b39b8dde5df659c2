// First start on an empty ledger: one admin (from configuration, or with a random password printed once) and a default workspace.
import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import { SYSTEM, type Ledger } from './ledger.js';

export async function bootstrapAdmin(
  ledger: Ledger,
  config: Pick<Config, 'bootstrapAdminEmail' | 'bootstrapAdminPassword'>,
  print: (line: string) => void,
): Promise<boolean> {
  if (ledger.read.userCount > 0) return false;
  const email = config.bootstrapAdminEmail ?? 'admin@localhost';
  const generated = config.bootstrapAdminPassword === null;
  const password = config.bootstrapAdminPassword ?? randomBytes(18).toString('base64url');
  const admin = await ledger.users.register({ email, name: 'Administrator', password, systemRole: 'admin' }, SYSTEM);
  await ledger.workspaces.create('default', admin.id, SYSTEM);
  if (generated) {
    print(`Created the first admin: ${email}`);
    print(`Password (shown once, change it with PUT /v1/users/me/password): ${password}`);
  } else {
    print(`Created the first admin: ${email}`);
  }
  return true;
}
