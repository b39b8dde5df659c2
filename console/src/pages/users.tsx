// Users: the accounts the caller may see; system admins deactivate, reactivate and lift a login lockout.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api';
import type { Me, User } from '../types';
import { Empty, ErrorBox, Loading, useLoad, DataTable, Pager } from '../ui';

export function UsersPage(props: { me: Me }): JSX.Element {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    () =>
      api<{ items: User[]; nextCursor: string | null }>(
        'GET',
        `/v1/users?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      ),
    [cursor],
  );
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const admin = props.me.user.systemRole === 'admin';
  const act = async (u: User, what: 'deactivate' | 'reactivate' | 'unlock', label: string): Promise<void> => {
    setError(null);
    setDone(null);
    try {
      await api('POST', `/v1/users/${encodeURIComponent(u.id)}/${what}`, what === 'deactivate' ? {} : undefined);
      setDone(`${label}: ${u.email}`);
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section>
      <h1>Users</h1>
      {!admin && <p class="hint">You see the members of workspaces where you manage users.</p>}
      <ErrorBox error={list.error ?? error} />
      {done && (
        <div class="alert success" role="status">
          {done}
        </div>
      )}
      {list.loading && !list.data && <Loading what="users" />}
      {list.data && list.data.items.length === 0 && <Empty>No accounts you may see.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <DataTable label="Users" columns={['Email', 'Name', 'System role', 'Status', ...(admin ? ['Actions'] : [])]}>
          {list.data.items.map((u) => (
            <tr key={u.id}>
              <td>{u.email}</td>
              <td>{u.name}</td>
              <td>{u.systemRole}</td>
              <td>
                <span class={`chip ${u.active ? 'active' : 'revoked'}`}>{u.active ? 'active' : 'deactivated'}</span>
              </td>
              {admin && (
                <td>
                  <div class="actions">
                    {u.id !== props.me.user.id &&
                      (u.active ? (
                        <button
                          type="button"
                          aria-label={`Deactivate ${u.email}`}
                          onClick={() => void act(u, 'deactivate', 'Deactivated')}
                        >
                          Deactivate
                        </button>
                      ) : (
                        <button
                          type="button"
                          aria-label={`Reactivate ${u.email}`}
                          onClick={() => void act(u, 'reactivate', 'Reactivated')}
                        >
                          Reactivate
                        </button>
                      ))}
                    <button
                      type="button"
                      aria-label={`Lift lockout of ${u.email}`}
                      onClick={() => void act(u, 'unlock', 'Lockout lifted')}
                    >
                      Lift lockout
                    </button>
                  </div>
                </td>
              )}
            </tr>
          ))}
        </DataTable>
      )}
      <Pager cursors={cursors} next={list.data?.nextCursor} onChange={setCursors} />
    </section>
  );
}
