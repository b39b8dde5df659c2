// The key dialogs: create (token shown once), revoke (reason + confirmation), rotate (grace period, new token once),
// reveal (retrievable keys) and rename. Each posts to the public API and shows its error envelope.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api';
import type { Key, Me } from '../types';
import { Dialog, ErrorBox, TokenField, Labelled, DialogActions } from '../ui';

function useSubmit(): { busy: boolean; error: unknown; run: (work: () => Promise<void>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return {
    busy,
    error,
    run: async (work) => {
      setBusy(true);
      setError(null);
      try {
        await work();
      } catch (err) {
        setError(err);
      } finally {
        setBusy(false);
      }
    },
  };
}

function Text(props: {
  label: string;
  value: string;
  onInput: (v: string) => void;
  hint?: string;
  required?: boolean;
  placeholder?: string;
}): JSX.Element {
  return (
    <label class="field">
      {props.label}
      <input
        value={props.value}
        required={props.required}
        placeholder={props.placeholder}
        onInput={(e) => props.onInput(e.currentTarget.value)}
      />
      {props.hint && <span class="hint">{props.hint}</span>}
    </label>
  );
}

function ShownOnce(props: { title: string; token: string; onClose: () => void; note?: string }): JSX.Element {
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      {props.note && <p>{props.note}</p>}
      <TokenField token={props.token} />
      <div class="dialog-actions">
        <button class="primary" type="button" onClick={props.onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

export function CreateKeyDialog(props: { me: Me; onClose: () => void; onChanged: () => void }): JSX.Element {
  const [f, setF] = useState({ name: '', description: '', expiresIn: '', handle: '', alias: '' });
  const [scopes, setScopes] = useState<string[]>([]);
  const [format, setFormat] = useState<'opaque' | 'jwt'>('opaque');
  const [retrievable, setRetrievable] = useState(false);
  const [token, setToken] = useState<string | null>(null);
  const s = useSubmit();
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  if (token !== null)
    return <ShownOnce title="Key created" token={token} onClose={props.onClose} note={`“${f.name}” is ready.`} />;
  const expiry = f.expiresIn.trim();
  const submit = (e: Event): void => {
    e.preventDefault();
    void s.run(async () => {
      const r = await api<Key & { token: string }>('POST', '/v1/keys', {
        name: f.name,
        description: f.description === '' ? null : f.description,
        handle: f.handle === '' ? undefined : f.handle,
        alias: f.alias === '' ? null : f.alias,
        scopes: scopes.length === 0 ? null : scopes,
        // A date is an expiry instant; anything else is a duration (30d, 12h, seconds).
        ...(expiry === ''
          ? {}
          : /^\d{4}-\d{2}-\d{2}/.test(expiry)
            ? { expiresAt: new Date(expiry).toISOString() }
            : { expiresIn: /^\d+$/.test(expiry) ? Number(expiry) : expiry }),
        format,
        retrievable,
      });
      setToken(r.token);
      props.onChanged();
    });
  };
  return (
    <Dialog title="Create key" onClose={props.onClose}>
      <form method="dialog" onSubmit={submit} class="form-grid">
        <Text label="Name" value={f.name} onInput={set('name')} required />
        <Text label="Description" value={f.description} onInput={set('description')} />
        <Text
          label="Expires in"
          value={f.expiresIn}
          onInput={set('expiresIn')}
          placeholder="30d"
          hint="A duration (30d, 12h, 15m) or a date (2027-01-31)"
        />
        <Text label="Handle" value={f.handle} onInput={set('handle')} hint="Optional; address the key by it" />
        <Text label="Alias" value={f.alias} onInput={set('alias')} />
        <Labelled label="Scopes">
          <select
            multiple
            size={Math.min(6, Math.max(2, props.me.scopes.length))}
            onChange={(e) => setScopes([...e.currentTarget.selectedOptions].map((o) => o.value))}
          >
            {props.me.scopes.map((sc) => (
              <option key={sc} value={sc} selected={scopes.includes(sc)}>
                {sc}
              </option>
            ))}
          </select>
          <span class="hint">None selected: the key carries your role’s permissions</span>
        </Labelled>
        <Labelled label="Format">
          <select value={format} onChange={(e) => setFormat(e.currentTarget.value as 'opaque' | 'jwt')}>
            <option value="opaque">Opaque</option>
            <option value="jwt">JWT</option>
          </select>
        </Labelled>
        <label class="check">
          <input type="checkbox" checked={retrievable} onChange={(e) => setRetrievable(e.currentTarget.checked)} />
          Retrievable
        </label>
        <ErrorBox error={s.error} />
        <DialogActions onCancel={props.onClose} submit="Create" disabled={s.busy} />
      </form>
    </Dialog>
  );
}

export function RevokeDialog(props: { k: Key; onClose: () => void; onDone: () => void }): JSX.Element {
  const [reason, setReason] = useState('');
  const [sure, setSure] = useState(false);
  const s = useSubmit();
  const submit = (e: Event): void => {
    e.preventDefault();
    void s.run(async () => {
      await api('POST', `/v1/keys/${encodeURIComponent(props.k.id)}/revoke`, { reason: reason === '' ? null : reason });
      props.onDone();
    });
  };
  return (
    <Dialog title={`Revoke “${props.k.name}”`} onClose={props.onClose}>
      <form method="dialog" onSubmit={submit}>
        <p>Revoking is permanent: every service verifying this key refuses it at once.</p>
        <label class="field">
          Reason
          <textarea rows={2} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={sure} onChange={(e) => setSure(e.currentTarget.checked)} required />I
          understand this cannot be undone
        </label>
        <ErrorBox error={s.error} />
        <DialogActions onCancel={props.onClose} submit="Revoke" disabled={s.busy || !sure} danger />
      </form>
    </Dialog>
  );
}

export function RotateDialog(props: { k: Key; onClose: () => void; onChanged: () => void }): JSX.Element {
  const [grace, setGrace] = useState('1h');
  const [token, setToken] = useState<string | null>(null);
  const s = useSubmit();
  if (token !== null)
    return (
      <ShownOnce
        title="Key rotated"
        token={token}
        onClose={props.onClose}
        note={`The old token keeps working for ${grace === '' ? '0s' : grace}.`}
      />
    );
  const submit = (e: Event): void => {
    e.preventDefault();
    void s.run(async () => {
      const r = await api<{ token: string }>('POST', `/v1/keys/${encodeURIComponent(props.k.id)}/rotate`, {
        gracePeriod: grace === '' ? 0 : /^\d+$/.test(grace) ? Number(grace) : grace,
      });
      setToken(r.token);
      props.onChanged();
    });
  };
  return (
    <Dialog title={`Rotate “${props.k.name}”`} onClose={props.onClose}>
      <form method="dialog" onSubmit={submit}>
        <p>A new key replaces this one; the old token still works during the grace period.</p>
        <Text label="Grace period" value={grace} onInput={setGrace} hint="0 retires the old key at once; 1h, 7d" />
        <ErrorBox error={s.error} />
        <DialogActions onCancel={props.onClose} submit="Rotate" disabled={s.busy} />
      </form>
    </Dialog>
  );
}

export function RevealDialog(props: { k: Key; onClose: () => void }): JSX.Element {
  const [token, setToken] = useState<string | null>(null);
  const s = useSubmit();
  if (token !== null) return <ShownOnce title={`Token of “${props.k.name}”`} token={token} onClose={props.onClose} />;
  return (
    <Dialog title={`Reveal “${props.k.name}”`} onClose={props.onClose}>
      <p>Each reveal is recorded in the key’s history.</p>
      <ErrorBox error={s.error} />
      <div class="dialog-actions">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          class="primary"
          type="button"
          disabled={s.busy}
          onClick={() =>
            void s.run(async () => {
              const r = await api<{ token: string }>('GET', `/v1/keys/${encodeURIComponent(props.k.id)}/token`);
              setToken(r.token);
            })
          }
        >
          Reveal
        </button>
      </div>
    </Dialog>
  );
}

export function RenameDialog(props: { k: Key; onClose: () => void; onDone: () => void }): JSX.Element {
  const [name, setName] = useState(props.k.name);
  const s = useSubmit();
  const submit = (e: Event): void => {
    e.preventDefault();
    void s.run(async () => {
      await api('PATCH', `/v1/keys/${encodeURIComponent(props.k.id)}`, { name });
      props.onDone();
    });
  };
  return (
    <Dialog title={`Rename “${props.k.name}”`} onClose={props.onClose}>
      <form method="dialog" onSubmit={submit}>
        <Text label="Name" value={name} onInput={setName} required />
        <ErrorBox error={s.error} />
        <DialogActions onCancel={props.onClose} submit="Save" disabled={s.busy} />
      </form>
    </Dialog>
  );
}
