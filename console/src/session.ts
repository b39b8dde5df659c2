// The session JWT lives in this tab only: memory plus sessionStorage (never a cookie, localStorage or a URL).
export interface Session {
  readonly token: string;
  readonly expiresAt: string;
}

const KEY = 'token-ledger.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return null;
    const s = JSON.parse(raw) as Session;
    return Date.parse(s.expiresAt) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, JSON.stringify(s));
}
