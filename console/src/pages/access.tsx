// Who could access: for a workspace and an instant, every key that would have verified then (validAt).
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, qs } from '../api';
import type { Workspace } from '../types';
import {
  Empty,
  ErrorBox,
  Link,
  Loading,
  isoToLocal,
  localToIso,
  useLoad,
  when,
  DataTable,
  WorkspaceSelect,
} from '../ui';

interface ValidAt {
  validAt: string;
  count: number;
  items: Array<{
    id: string;
    name: string;
    handle: string | null;
    userId: string;
    start: string;
    createdAt: string;
    expiresAt: string | null;
  }>;
}

const HOUR = 3_600_000;

export function AccessPage(): JSX.Element {
  const workspaces = useLoad(() => api<{ items: Workspace[] }>('GET', '/v1/workspaces'), []);
  const [ws, setWs] = useState('');
  const [at, setAt] = useState(() => isoToLocal(Date.now()));
  const [result, setResult] = useState<ValidAt | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const first = workspaces.data?.items[0]?.id ?? '';
  useEffect(() => {
    if (ws === '' && first !== '') setWs(first);
  }, [first]);

  const check = async (instant: string): Promise<void> => {
    if (ws === '') return;
    setBusy(true);
    setError(null);
    try {
      setResult(
        await api<ValidAt>(
          'GET',
          `/v1/workspaces/${encodeURIComponent(ws)}/keys${qs({ validAt: localToIso(instant) })}`,
        ),
      );
    } catch (err) {
      setResult(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const shift = (ms: number): void => {
    const next = isoToLocal(new Date(at).getTime() + ms);
    setAt(next);
    void check(next);
  };

  return (
    <section>
      <h1>Who could access</h1>
      <ErrorBox error={workspaces.error} />
      <form
        class="panel toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          void check(at);
        }}
      >
        <WorkspaceSelect workspaces={workspaces.data?.items} value={ws} onChange={setWs} />
        <label class="field">
          Instant
          <input type="datetime-local" step={1} value={at} onInput={(e) => setAt(e.currentTarget.value)} />
        </label>
        <button class="primary" type="submit" disabled={busy || ws === ''}>
          Show keys
        </button>
        <button type="button" onClick={() => shift(-HOUR)} disabled={ws === ''}>
          − 1 hour
        </button>
        <button type="button" onClick={() => shift(HOUR)} disabled={ws === ''}>
          + 1 hour
        </button>
      </form>
      <ErrorBox error={error} />
      {busy && !result && <Loading what="keys" />}
      {result && (
        <>
          <p role="status">
            {result.count} {result.count === 1 ? 'key' : 'keys'} would have verified at {when(result.validAt)}.
          </p>
          {result.items.length === 0 ? (
            <Empty>No key could access this workspace then.</Empty>
          ) : (
            <DataTable label="Keys valid then" columns={['Key', 'Starts with', 'Owner', 'Created', 'Expires']}>
              {result.items.map((k) => (
                <tr key={k.id}>
                  <td>
                    <Link to={`/keys/${k.id}`}>{k.name}</Link>
                  </td>
                  <td class="mono">{k.start}…</td>
                  <td class="mono">{k.userId}</td>
                  <td>{when(k.createdAt)}</td>
                  <td>{when(k.expiresAt)}</td>
                </tr>
              ))}
            </DataTable>
          )}
        </>
      )}
    </section>
  );
}
