// A tiny history router: the console's pages live under /console/…, and any of them survives a reload.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const BASE = '/console';

export interface Router {
  readonly path: string;
  navigate(to: string): void;
}

export const RouterContext = createContext<Router>({ path: '/keys', navigate: () => undefined });

export function useRouter(): Router {
  return useContext(RouterContext);
}

/** The page path without the /console prefix ("/" becomes "/keys"). */
export function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  return p === '' || p === '/' ? '/keys' : p;
}
