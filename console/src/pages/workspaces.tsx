// Workspaces: members and roles, invitations and the key policy — the controls shown follow the caller's role,
// and the API's policy decides (its error envelope is shown when it refuses).
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ROLES, type Invitation, type Me, type Role, type User, type Workspace } from '../types';
import { Empty, ErrorBox, Loading, useLoad, when, Labelled, DataTable, WorkspaceSelect } from '../ui';

export function WorkspacesPage(props: { me: Me }): JSX.Element {
  const list = useLoad(() => api<{ items: Workspace[] }>('GET', '/v1/workspaces'), []);
  const [open, setOpen] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const selected = open ?? list.data?.items[0]?.id ?? null;
  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      const ws = await api<Workspace>('POST', '/v1/workspaces', { name });
      setName('');
      setOpen(ws.id);
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section>
      <h1>Workspaces</h1>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading what="workspaces" />}
      {list.data && list.data.items.length === 0 && <Empty>You belong to no workspace yet.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <div class="toolbar">
          <WorkspaceSelect
            workspaces={list.data.items.map((w) => ({ id: w.id, name: w.role ? `${w.name} (${w.role})` : w.name }))}
            value={selected ?? ''}
            onChange={setOpen}
          />
        </div>
      )}
      {selected && <WorkspaceDetail key={selected} id={selected} me={props.me} />}
      <form class="panel toolbar" onSubmit={(e) => void create(e)}>
        <label class="field grow">
          New workspace name
          <input value={name} required onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit">Create workspace</button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}

function WorkspaceDetail(props: { id: string; me: Me }): JSX.Element {
  const ws = useLoad(() => api<Workspace>('GET', `/v1/workspaces/${encodeURIComponent(props.id)}`), [props.id]);
  const [error, setError] = useState<unknown>(null);
  const w = ws.data;
  const myRole = w?.members?.find((m) => m.userId === props.me.user.id)?.role ?? null;
  const manager = props.me.user.systemRole === 'admin' || myRole === 'owner' || myRole === 'admin';
  // Names for member ids, where the caller may list accounts; otherwise ids alone.
  const users = useLoad(
    () => (manager ? api<{ items: User[] }>('GET', '/v1/users?limit=500') : Promise.resolve({ items: [] as User[] })),
    [manager],
  );
  const nameOf = (id: string): string => users.data?.items.find((u) => u.id === id)?.email ?? id;
  const act = async (work: () => Promise<unknown>): Promise<void> => {
    setError(null);
    try {
      await work();
      ws.reload();
    } catch (err) {
      setError(err);
    }
  };
  if (!w) return ws.error ? <ErrorBox error={ws.error} /> : <Loading what="the workspace" />;
  const path = `/v1/workspaces/${encodeURIComponent(w.id)}`;
  return (
    <div>
      <ErrorBox error={error} />
      <h2>Members of {w.name}</h2>
      <DataTable label="Members" columns={['Member', 'Role', ...(manager ? ['Actions'] : [])]}>
        {(w.members ?? []).map((m) => (
          <tr key={m.userId}>
            <td>{nameOf(m.userId)}</td>
            <td>
              {manager ? (
                <select
                  aria-label={`Role of ${nameOf(m.userId)}`}
                  value={m.role}
                  onChange={(e) =>
                    void act(() =>
                      api('PUT', `${path}/members/${encodeURIComponent(m.userId)}`, {
                        role: e.currentTarget.value as Role,
                      }),
                    )
                  }
                >
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              ) : (
                m.role
              )}
            </td>
            {manager && (
              <td>
                <button
                  type="button"
                  aria-label={`Remove ${nameOf(m.userId)}`}
                  onClick={() => void act(() => api('DELETE', `${path}/members/${encodeURIComponent(m.userId)}`))}
                >
                  Remove
                </button>
              </td>
            )}
          </tr>
        ))}
      </DataTable>
      {manager && <Invitations path={path} />}
      <Policy w={w} editable={manager} onSaved={ws.reload} />
    </div>
  );
}

function Invitations(props: { path: string }): JSX.Element {
  const list = useLoad(() => api<{ items: Invitation[] }>('GET', `${props.path}/invitations`), [props.path]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [error, setError] = useState<unknown>(null);
  const invite = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      await api('POST', `${props.path}/invitations`, { email, role });
      setEmail('');
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h2>Invitations</h2>
      <form class="toolbar" onSubmit={(e) => void invite(e)}>
        <label class="field grow">
          Invite by email
          <input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <Labelled label="Role">
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </Labelled>
        <button type="submit">Invite</button>
      </form>
      <ErrorBox error={error ?? list.error} />
      {list.data && list.data.items.length === 0 && <Empty>No invitations.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <DataTable label="Invitations" columns={['Email', 'Role', 'Status', 'Expires', 'Actions']}>
          {list.data.items.map((i) => (
            <tr key={i.id}>
              <td>{i.email}</td>
              <td>{i.role ?? '—'}</td>
              <td>{i.status}</td>
              <td>{when(i.expiresAt)}</td>
              <td>
                {i.status === 'pending' && (
                  <button
                    type="button"
                    aria-label={`Cancel invitation of ${i.email}`}
                    onClick={() =>
                      void api('DELETE', `${props.path}/invitations/${encodeURIComponent(i.id)}`).then(
                        list.reload,
                        setError,
                      )
                    }
                  >
                    Cancel
                  </button>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}

function seconds(v: string): number | string | null {
  const t = v.trim();
  return t === '' ? null : /^\d+$/.test(t) ? Number(t) : t;
}

function Policy(props: { w: Workspace; editable: boolean; onSaved: () => void }): JSX.Element {
  const p = props.w.policy;
  const [maxTtl, setMaxTtl] = useState(p.maxTtl === null ? '' : String(p.maxTtl));
  const [requireExpiry, setRequireExpiry] = useState(p.requireExpiry);
  const [maxGrace, setMaxGrace] = useState(p.maxGracePeriod === null ? '' : String(p.maxGracePeriod));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      await api('PUT', `/v1/workspaces/${encodeURIComponent(props.w.id)}/policy`, {
        maxTtl: seconds(maxTtl),
        requireExpiry,
        maxGracePeriod: seconds(maxGrace),
      });
      setSaved(true);
      props.onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <h2>Key policy</h2>
      <form class="panel" onSubmit={(e) => void save(e)}>
        <fieldset disabled={!props.editable} class="form-grid">
          <legend class="visually-hidden">Key policy</legend>
          <label class="field">
            Maximum TTL
            <input value={maxTtl} placeholder="none" onInput={(e) => setMaxTtl(e.currentTarget.value)} />
            <span class="hint">Seconds or 90d; empty for none</span>
          </label>
          <label class="field">
            Maximum grace period
            <input value={maxGrace} placeholder="none" onInput={(e) => setMaxGrace(e.currentTarget.value)} />
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={requireExpiry}
              onChange={(e) => setRequireExpiry(e.currentTarget.checked)}
            />
            Require an expiry
          </label>
        </fieldset>
        {props.editable ? (
          <div class="toolbar">
            <button type="submit">Save policy</button>
            {saved && <span role="status">Saved.</span>}
          </div>
        ) : (
          <p class="hint">Only owners and admins change the policy.</p>
        )}
        <ErrorBox error={error} />
      </form>
    </>
  );
}
