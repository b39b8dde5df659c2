// Keys: your keys with status chips, a status filter and cursor paging; create, reveal, rename, rotate, revoke.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, qs } from '../api';
import type { Key, Me, Workspace } from '../types';
import {
  Empty,
  ErrorBox,
  Link,
  Loading,
  StatusChip,
  phaseOf,
  useLoad,
  when,
  Labelled,
  DataTable,
  Pager,
  WorkspaceSelect,
} from '../ui';
import { CreateKeyDialog, RenameDialog, RevealDialog, RevokeDialog, RotateDialog } from './key-dialogs';

type Action = { kind: 'create' } | { kind: 'revoke' | 'rotate' | 'reveal' | 'rename'; key: Key };

const PAGE = 20;

export function KeysPage(props: { me: Me }): JSX.Element {
  const [status, setStatus] = useState('');
  const [workspaceId, setWorkspaceId] = useState('');
  const workspaces = useLoad(() => api<{ items: Workspace[] }>('GET', '/v1/workspaces'), []);
  const [cursors, setCursors] = useState<string[]>([]);
  const [action, setAction] = useState<Action | null>(null);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    () =>
      api<{ items: Key[]; nextCursor: string | null }>(
        'GET',
        `/v1/keys${qs({ status, workspaceId, limit: String(PAGE), cursor })}`,
      ),
    [status, workspaceId, cursor],
  );
  const done = (): void => {
    setAction(null);
    list.reload();
  };
  const close = (): void => setAction(null);

  return (
    <section>
      <h1>Keys</h1>
      <div class="toolbar">
        <Labelled label="Status">
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.currentTarget.value);
              setCursors([]);
            }}
          >
            <option value="">All</option>
            <option value="active">Active</option>
            <option value="expired">Expired</option>
            <option value="revoked">Revoked</option>
          </select>
        </Labelled>
        <WorkspaceSelect
          workspaces={workspaces.data?.items}
          value={workspaceId}
          onChange={(id) => {
            setWorkspaceId(id);
            setCursors([]);
          }}
          any="All"
        />
        <span class="grow" />
        <button class="primary" type="button" onClick={() => setAction({ kind: 'create' })}>
          Create key
        </button>
      </div>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? (
        <Loading what="keys" />
      ) : list.data && list.data.items.length === 0 ? (
        <Empty>No keys here yet. Use “Create key” to make one.</Empty>
      ) : (
        list.data && (
          <DataTable
            label="Keys"
            columns={['Name', 'Status', 'Starts with', 'Created', 'Expires', 'Last used', 'Actions']}
          >
            {list.data.items.map((k) => (
              <tr key={k.id}>
                <td>
                  <Link to={`/keys/${encodeURIComponent(k.id)}`}>{k.name}</Link>
                  {k.handle && <div class="hint">@{k.handle}</div>}
                </td>
                <td>
                  <StatusChip phase={phaseOf(k)} />
                </td>
                <td class="mono">{k.start}…</td>
                <td>{when(k.createdAt)}</td>
                <td>{when(k.expiresAt)}</td>
                <td>{when(k.lastUsedAt)}</td>
                <td>
                  <KeyActions k={k} onAction={(kind) => setAction({ kind, key: k })} />
                </td>
              </tr>
            ))}
          </DataTable>
        )
      )}
      <Pager cursors={cursors} next={list.data?.nextCursor} onChange={setCursors} />
      {action?.kind === 'create' && (
        <CreateKeyDialog key="create" me={props.me} onClose={close} onChanged={list.reload} />
      )}
      {action?.kind === 'revoke' && <RevokeDialog key="revoke" k={action.key} onClose={close} onDone={done} />}
      {action?.kind === 'rotate' && (
        <RotateDialog key="rotate" k={action.key} onClose={close} onChanged={list.reload} />
      )}
      {action?.kind === 'reveal' && <RevealDialog key="reveal" k={action.key} onClose={close} />}
      {action?.kind === 'rename' && <RenameDialog key="rename" k={action.key} onClose={close} onDone={done} />}
    </section>
  );
}

export function KeyActions(props: {
  k: Key;
  onAction: (kind: 'revoke' | 'rotate' | 'reveal' | 'rename') => void;
}): JSX.Element {
  const { k } = props;
  const live = k.status === 'active';
  return (
    <div class="actions">
      {live && (
        <button type="button" aria-label={`Rotate ${k.name}`} onClick={() => props.onAction('rotate')}>
          Rotate
        </button>
      )}
      {live && (
        <button type="button" aria-label={`Revoke ${k.name}`} onClick={() => props.onAction('revoke')}>
          Revoke
        </button>
      )}
      {live && k.retrievable && (
        <button type="button" aria-label={`Reveal ${k.name}`} onClick={() => props.onAction('reveal')}>
          Reveal
        </button>
      )}
      <button type="button" aria-label={`Rename ${k.name}`} onClick={() => props.onAction('rename')}>
        Rename
      </button>
    </div>
  );
}
