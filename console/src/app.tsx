// The console shell: sign-in, the navigation, and the page for the current path.
import type { JSX } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { api, useToken } from './api';
import { currentPath, BASE, RouterContext, type Router } from './router';
import { loadSession, saveSession, type Session } from './session';
import type { Me } from './types';
import { ErrorBox, Link, Loading } from './ui';
import { SignIn } from './pages/sign-in';
import { KeysPage } from './pages/keys';
import { KeyDetailPage } from './pages/key-detail';
import { AuditPage } from './pages/audit';
import { AccessPage } from './pages/access';
import { RevocationsPage } from './pages/revocations';
import { WorkspacesPage } from './pages/workspaces';
import { UsersPage } from './pages/users';

const NAV: ReadonlyArray<[string, string]> = [
  ['/keys', 'Keys'],
  ['/audit', 'Audit'],
  ['/access', 'Who could access'],
  ['/revocations', 'Revocations'],
  ['/workspaces', 'Workspaces'],
  ['/users', 'Users'],
];

const EXPIRED = 'Your session has expired. Sign in again to continue.';

export function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [notice, setNotice] = useState<string | null>(null);
  const [path, setPath] = useState(currentPath);

  const end = useCallback((message: string | null) => {
    saveSession(null);
    useToken(null, null);
    setSession(null);
    setNotice(message);
  }, []);

  useToken(session?.token ?? null, session ? () => end(EXPIRED) : null);

  // The session's own expiry time also ends it, even with no request in flight.
  useEffect(() => {
    if (!session) return;
    const left = Date.parse(session.expiresAt) - Date.now();
    const t = setTimeout(() => end(EXPIRED), Math.max(0, Math.min(left, 2 ** 31 - 1)));
    return () => clearTimeout(t);
  }, [session, end]);

  useEffect(() => {
    const pop = (): void => setPath(currentPath());
    addEventListener('popstate', pop);
    return () => removeEventListener('popstate', pop);
  }, []);

  const router = useMemo<Router>(
    () => ({
      path,
      navigate: (to: string) => {
        history.pushState(null, '', BASE + to);
        setPath(to);
        scrollTo(0, 0);
      },
    }),
    [path],
  );

  if (!session)
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s) => {
          saveSession(s);
          setNotice(null);
          setSession(s);
        }}
      />
    );
  return (
    <RouterContext.Provider value={router}>
      <Shell path={path} onSignOut={() => end('You have signed out.')} />
    </RouterContext.Provider>
  );
}

function Shell(props: { path: string; onSignOut: (message: string | null) => void }): JSX.Element {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [signingOut, setSigningOut] = useState(false);
  useEffect(() => {
    api<Me>('GET', '/v1/auth/me').then(setMe, setError);
  }, []);

  const signOut = async (): Promise<void> => {
    setSigningOut(true);
    try {
      await api('POST', '/v1/auth/logout');
      props.onSignOut('You have signed out.');
    } catch (err) {
      setError(err);
      setSigningOut(false);
    }
  };

  const section = '/' + (props.path.split('/')[1] ?? '');
  return (
    <div class="shell">
      <header class="sidebar">
        <div class="brand">token-ledger</div>
        <nav aria-label="Console">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <Link to={to} current={section === to}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="whoami">
          {me && (
            <span>
              {me.user.email}
              {me.user.systemRole === 'admin' ? ' (system admin)' : ''}
            </span>
          )}
          <button type="button" onClick={() => void signOut()} disabled={signingOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>
        <ErrorBox error={error} />
        {me ? <Page path={props.path} me={me} /> : !error && <Loading what="your account" />}
      </main>
    </div>
  );
}

function Page(props: { path: string; me: Me }): JSX.Element {
  const parts = props.path.split('/').filter((p) => p !== '');
  switch (parts[0]) {
    case 'keys':
      return parts[1] ? <KeyDetailPage id={decodeURIComponent(parts[1])} /> : <KeysPage me={props.me} />;
    case 'audit':
      return <AuditPage me={props.me} />;
    case 'access':
      return <AccessPage />;
    case 'revocations':
      return <RevocationsPage />;
    case 'workspaces':
      return <WorkspacesPage me={props.me} />;
    case 'users':
      return <UsersPage me={props.me} />;
    default:
      return (
        <div>
          <h1>Not found</h1>
          <p>
            There is no page here. <Link to="/keys">Go to Keys</Link>.
          </p>
        </div>
      );
  }
}
