// argon2id at OWASP's recommended parameters; unknown users pay the same cost as wrong passwords.
import argon2 from 'argon2';

export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

let dummy: Promise<string> | undefined;

/** Verifies a password; with no stored hash it burns the same work against a dummy hash and returns false. */
export async function verifyPassword(storedHash: string | null, password: string): Promise<boolean> {
  if (storedHash === null) {
    dummy ??= hashPassword('dummy password for unknown users');
    await argon2.verify(await dummy, password);
    return false;
  }
  try {
    return await argon2.verify(storedHash, password);
  } catch {
    return false;
  }
}

export function checkPasswordStrength(password: unknown): string | null {
  if (typeof password !== 'string') return 'password must be a string';
  if (password.length < 12) return 'password must be at least 12 characters';
  if (password.length > 1024) return 'password must be at most 1024 characters';
  return null;
}
