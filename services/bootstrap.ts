// First start on an empty ledger: one admin (from configuration, or with a random password printed once) and a default
// workspace. Instances started together on an empty shared store race for the admin's e-mail: one wins and creates
// both, the others wait until they see them.
import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import { DomainError } from './domain/errors.js';
import { SYSTEM, type Ledger } from './ledger.js';

/** How long a losing instance waits for the winner's admin and workspace: the e-mail claim's in-progress window. */
const WINNER_WAIT_MS = 60_000;

export async function bootstrapAdmin(
  ledger: Ledger,
  config: Pick<Config, 'bootstrapAdminEmail' | 'bootstrapAdminPassword'>,
  print: (line: string) => void,
): Promise<boolean> {
  if (ledger.read.userCount > 0) return false;
  const email = config.bootstrapAdminEmail ?? 'admin@localhost';
  const generated = config.bootstrapAdminPassword === null;
  const password = config.bootstrapAdminPassword ?? randomBytes(18).toString('base64url');
  let adminId: string;
  try {
    adminId = (await ledger.users.register({ email, name: 'Administrator', password, systemRole: 'admin' }, SYSTEM)).id;
  } catch (err) {
    if (!(err instanceof DomainError && err.code === 'EMAIL_TAKEN')) throw err;
    await createdElsewhere(ledger, email);
    return false;
  }
  await ledger.workspaces.create('default', adminId, SYSTEM);
  print(`Created the first admin: ${email}`);
  if (generated) print(`Password (shown once, change it with PUT /v1/users/me/password): ${password}`);
  return true;
}

/** Resolves once the read model holds the admin another instance is creating, with its workspace. */
function createdElsewhere(ledger: Ledger, email: string): Promise<void> {
  const done = (): boolean => {
    const u = ledger.read.userByEmail(email);
    return u !== undefined && ledger.read.membershipsOf(u.id).size > 0;
  };
  if (done()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`another instance claimed ${email} for the first admin but did not create it within 60 s`));
    }, WINNER_WAIT_MS);
    const off = ledger.read.onApplied(() => {
      if (!done()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
