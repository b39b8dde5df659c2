// Key detail: the key, its history (timeline with rotation lineage), a usage chart and the key "as of" an instant.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api';
import type { AuditItem, Key, KeyAsOf } from '../types';
import { Empty, ErrorBox, Link, Loading, StatusChip, isoToLocal, localToIso, phaseOf, useLoad, when } from '../ui';
import { UsageChart } from './usage-chart';
import { KeyActions } from './keys';
import { RenameDialog, RevealDialog, RevokeDialog, RotateDialog } from './key-dialogs';

interface History {
  key: Key;
  lineage: { predecessors: string[]; successors: string[] };
  events: AuditItem[];
}

const LABELS: Record<string, string> = {
  ApiKeyCreated: 'Created',
  ApiKeyUsed: 'Used',
  ApiKeyUpdated: 'Renamed',
  ApiKeySecretRevealed: 'Revealed',
  ApiKeyRotated: 'Rotated',
  ApiKeyExpired: 'Expired',
  ApiKeyRevoked: 'Revoked',
};

function label(type: string): string {
  return LABELS[type] ?? type.replace(/^ApiKey/, '');
}

export function KeyDetailPage(props: { id: string }): JSX.Element {
  const [action, setAction] = useState<'revoke' | 'rotate' | 'reveal' | 'rename' | null>(null);
  const key = useLoad(() => api<Key>('GET', `/v1/keys/${encodeURIComponent(props.id)}`), [props.id]);
  const history = useLoad(() => api<History>('GET', `/v1/keys/${encodeURIComponent(props.id)}/history`), [props.id]);
  const k = key.data;
  const done = (): void => {
    setAction(null);
    key.reload();
    history.reload();
  };
  const close = (): void => setAction(null);
  return (
    <section>
      <p>
        <Link to="/keys">← Keys</Link>
      </p>
      <ErrorBox error={key.error} />
      {key.loading && !k && <Loading what="the key" />}
      {k && (
        <>
          <h1>
            {k.name} <StatusChip phase={phaseOf(k)} />
          </h1>
          <div class="panel">
            <dl class="facts">
              <dt>Id</dt>
              <dd class="mono">{k.id}</dd>
              <dt>Starts with</dt>
              <dd class="mono">{k.start}…</dd>
              <dt>Handle</dt>
              <dd>{k.handle ?? '—'}</dd>
              <dt>Description</dt>
              <dd>{k.description ?? '—'}</dd>
              <dt>Workspace</dt>
              <dd class="mono">{k.workspaceId}</dd>
              <dt>Scopes</dt>
              <dd>{k.scopes === null ? 'all of the owner’s role' : k.scopes.join(', ') || 'none'}</dd>
              <dt>Format</dt>
              <dd>{k.format}</dd>
              <dt>Created</dt>
              <dd>{when(k.createdAt)}</dd>
              <dt>Expires</dt>
              <dd>{when(k.expiresAt)}</dd>
              <dt>Uses</dt>
              <dd>{k.useCount}</dd>
              {k.revokedAt && (
                <>
                  <dt>Revoked</dt>
                  <dd>
                    {when(k.revokedAt)}
                    {k.revokeReason ? ` — ${k.revokeReason}` : ''}
                  </dd>
                </>
              )}
              {k.rotatedFrom && (
                <>
                  <dt>Rotated from</dt>
                  <dd>
                    <Link to={`/keys/${k.rotatedFrom}`}>{k.rotatedFrom}</Link>
                  </dd>
                </>
              )}
              {k.rotatedTo && (
                <>
                  <dt>Rotated to</dt>
                  <dd>
                    <Link to={`/keys/${k.rotatedTo}`}>{k.rotatedTo}</Link>
                  </dd>
                </>
              )}
            </dl>
            <div class="toolbar">
              <KeyActions k={k} onAction={setAction} />
            </div>
          </div>
          <AsOf id={k.id} created={k.createdAt} />
        </>
      )}
      <h2>Usage</h2>
      {history.data && (
        <UsageChart uses={history.data.events.filter((e) => e.type === 'ApiKeyUsed' && e.keyId === props.id)} />
      )}
      <h2>History</h2>
      <ErrorBox error={history.error} />
      {history.loading && !history.data && <Loading what="the history" />}
      {history.data && <Timeline h={history.data} />}
      {k && action === 'revoke' && <RevokeDialog key="revoke" k={k} onClose={close} onDone={done} />}
      {k && action === 'rotate' && <RotateDialog key="rotate" k={k} onClose={close} onChanged={done} />}
      {k && action === 'reveal' && <RevealDialog key="reveal" k={k} onClose={close} />}
      {k && action === 'rename' && <RenameDialog key="rename" k={k} onClose={close} onDone={done} />}
    </section>
  );
}

function Timeline(props: { h: History }): JSX.Element {
  const { h } = props;
  if (h.events.length === 0) return <Empty>No events recorded for this key yet.</Empty>;
  return (
    <>
      {(h.lineage.predecessors.length > 0 || h.lineage.successors.length > 0) && (
        <p>
          Rotation lineage:{' '}
          {[...h.lineage.predecessors, h.key.id, ...h.lineage.successors].map((id, i) => (
            <span key={id}>
              {i > 0 && ' → '}
              {id === h.key.id ? <strong class="mono">{id}</strong> : <Link to={`/keys/${id}`}>{id}</Link>}
            </span>
          ))}
        </p>
      )}
      <ol class="timeline" aria-label="Key history">
        {[...h.events].reverse().map((e) => (
          <li key={e.id}>
            <div class="what">
              {label(e.type)}
              {e.keyId !== h.key.id && e.keyId && (
                <>
                  {' '}
                  (<Link to={`/keys/${e.keyId}`}>{e.keyId}</Link>)
                </>
              )}
            </div>
            <div class="meta">
              <time dateTime={e.occurredAt}>{when(e.occurredAt)}</time>
              {' · by '}
              {e.actor.type ?? '?'} <span class="mono">{e.actor.id ?? '—'}</span>
              {e.request.ip && <> · IP {e.request.ip}</>}
              {e.scheme && <> · presented as {e.scheme}</>}
              {detail(e)}
            </div>
          </li>
        ))}
      </ol>
    </>
  );
}

function detail(e: AuditItem): JSX.Element | string {
  const d = e.event.data;
  if (e.type === 'ApiKeyRevoked' && typeof d.reason === 'string') return ` · reason: ${d.reason}`;
  if (e.type === 'ApiKeyUpdated' && typeof d.name === 'string') return ` · name: ${d.name}`;
  if (e.type === 'ApiKeyRotated' && typeof d.successorId === 'string')
    return (
      <>
        {' · successor '}
        <Link to={`/keys/${d.successorId}`}>{d.successorId}</Link>
      </>
    );
  return '';
}

function AsOf(props: { id: string; created: string }): JSX.Element {
  // The field holds whole seconds: now, cut to the second, may precede a key created this very second (a 404).
  const [at, setAt] = useState(() => isoToLocal(Math.max(Date.now(), Date.parse(props.created) + 999 || 0)));
  const [result, setResult] = useState<KeyAsOf | null>(null);
  const [error, setError] = useState<unknown>(null);
  const show = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    const iso = localToIso(at);
    if (iso === undefined) return setError(new Error('Pick a date and time.'));
    try {
      setResult(await api<KeyAsOf>('GET', `/v1/keys/${encodeURIComponent(props.id)}?asOf=${encodeURIComponent(iso)}`));
    } catch (err) {
      setResult(null);
      setError(err);
    }
  };
  return (
    <div class="panel">
      <form class="toolbar" onSubmit={(e) => void show(e)}>
        <label class="field">
          As of
          <input type="datetime-local" step={1} value={at} onInput={(e) => setAt(e.currentTarget.value)} />
        </label>
        <button type="submit">Show</button>
        <span class="hint">See the key as it was at that instant.</span>
      </form>
      <ErrorBox error={error} />
      {result && (
        <p role="status">
          At {when(result.at ?? null)}: <StatusChip phase={result.phase ?? phaseOf(result)} /> named “{result.name}”,{' '}
          {result.wouldVerify ? 'would have verified' : 'would not have verified'}.
        </p>
      )}
    </div>
  );
}
