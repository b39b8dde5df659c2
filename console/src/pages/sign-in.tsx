// Sign in with e-mail and password: POST /v1/auth/login returns the session JWT, kept only in this tab.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api';
import type { Session } from '../session';
import { ErrorBox } from '../ui';

export function SignIn(props: { notice: string | null; onSignedIn: (s: Session) => void }): JSX.Element {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ token: string; expiresAt: string }>('POST', '/v1/auth/login', { email, password });
      props.onSignedIn({ token: r.token, expiresAt: r.expiresAt });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Sign in to token-ledger</h1>
      {props.notice && (
        <div class="alert info" role="status">
          {props.notice}
        </div>
      )}
      <ErrorBox error={error} />
      <form class="panel" onSubmit={(e) => void submit(e)}>
        <label class="field">
          Email
          <input
            type="email"
            autoComplete="username"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          Password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <button class="primary" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
