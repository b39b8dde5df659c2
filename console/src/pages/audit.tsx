// Audit: search with the API's filters and stable cursor paging (ledger positions), a leaked-token box hashed in the
// page (only the SHA-256 digest is sent), and JSONL/CSV export with its signed manifest verified against the JWKS.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { JWK } from 'jose';
import { EVENT_TYPES } from '../../../events/catalog.js';
import { api, call, qs } from '../api';
import { csvRecords, sha256Hex, splitJsonl, verifyExport, type SignedManifest, type Verdict } from '../export-verify';
import type { AuditItem, AuditPage as Page, Me, Workspace } from '../types';
import { Empty, ErrorBox, Link, Loading, localToIso, useLoad, when, Labelled, DataTable, WorkspaceSelect } from '../ui';

type Filters = Record<'keyId' | 'userId' | 'workspaceId' | 'actorId' | 'type' | 'from' | 'to', string>;
const NO_FILTERS: Filters = { keyId: '', userId: '', workspaceId: '', actorId: '', type: '', from: '', to: '' };

const text = new TextEncoder();

/** The API query for the filters; the token, if any, only as its SHA-256 digest computed here. */
async function query(f: Filters, token: string): Promise<Record<string, string | undefined>> {
  return {
    keyId: f.keyId.trim(),
    userId: f.userId.trim(),
    workspaceId: f.workspaceId,
    actorId: f.actorId.trim(),
    type: f.type,
    from: localToIso(f.from),
    to: localToIso(f.to),
    tokenDigest: token.trim() === '' ? undefined : await sha256Hex(text.encode(token.trim())),
  };
}

export function AuditPage(_props: { me: Me }): JSX.Element {
  const [f, setF] = useState<Filters>(NO_FILTERS);
  const [token, setToken] = useState('');
  const [digest, setDigest] = useState<string | null>(null);
  const [items, setItems] = useState<AuditItem[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [asked, setAsked] = useState<Record<string, string | undefined>>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const workspaces = useLoad(() => api<{ items: Workspace[] }>('GET', '/v1/workspaces'), []);
  const set =
    (k: keyof Filters) =>
    (e: { currentTarget: { value: string } }): void =>
      setF({ ...f, [k]: e.currentTarget.value });

  const load = async (q: Record<string, string | undefined>, cursor: string | null): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const page = await api<Page>('GET', `/v1/audit${qs({ ...q, cursor, limit: '50' })}`);
      setItems(cursor === null ? page.items : [...(items ?? []), ...page.items]);
      setNext(page.hasMore ? page.nextCursor : null);
    } catch (err) {
      setError(err);
      if (cursor === null) setItems(null);
    } finally {
      setBusy(false);
    }
  };

  const search = async (e: Event): Promise<void> => {
    e.preventDefault();
    const q = await query(f, token);
    setDigest(q.tokenDigest ?? null);
    setAsked(q);
    await load(q, null);
  };

  return (
    <section>
      <h1>Audit</h1>
      <form class="panel" onSubmit={(e) => void search(e)}>
        <div class="form-grid">
          <label class="field">
            Key
            <input value={f.keyId} onInput={set('keyId')} placeholder="key id" />
          </label>
          <label class="field">
            User
            <input value={f.userId} onInput={set('userId')} placeholder="user id" />
          </label>
          <WorkspaceSelect
            workspaces={workspaces.data?.items}
            value={f.workspaceId}
            onChange={(id) => setF({ ...f, workspaceId: id })}
            any="All I may read"
          />
          <label class="field">
            Actor
            <input value={f.actorId} onInput={set('actorId')} placeholder="user, key or service id" />
          </label>
          <Labelled label="Type">
            <select value={f.type} onChange={set('type')}>
              <option value="">Any</option>
              {EVENT_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </Labelled>
          <label class="field">
            From
            <input type="datetime-local" step={1} value={f.from} onInput={set('from')} />
          </label>
          <label class="field">
            To
            <input type="datetime-local" step={1} value={f.to} onInput={set('to')} />
          </label>
          <label class="field">
            Token
            <input
              type="password"
              autoComplete="off"
              spellcheck={false}
              value={token}
              onInput={(e) => setToken(e.currentTarget.value)}
              placeholder="paste a leaked token"
            />
            <span class="hint">Hashed with SHA-256 in this page; only the digest is sent.</span>
          </label>
        </div>
        <div class="toolbar">
          <button class="primary" type="submit" disabled={busy}>
            Search
          </button>
          <button
            type="button"
            onClick={() => {
              setF(NO_FILTERS);
              setToken('');
              setDigest(null);
            }}
          >
            Clear
          </button>
        </div>
        {digest && (
          <p class="hint" role="status">
            Searching by token digest <code>{digest}</code>
          </p>
        )}
      </form>
      <ErrorBox error={error} />
      {busy && items === null && <Loading what="audit events" />}
      {items !== null && items.length === 0 && <Empty>No events match these filters.</Empty>}
      {items !== null && items.length > 0 && <Results items={items} />}
      {next && (
        <div class="toolbar">
          <button type="button" disabled={busy} onClick={() => void load(asked, next)}>
            Load more
          </button>
        </div>
      )}
      <Export filters={f} token={token} />
    </section>
  );
}

function Results(props: { items: AuditItem[] }): JSX.Element {
  return (
    <DataTable label="Audit events" columns={['When', 'Event', 'Key', 'Actor', 'IP', 'Position']}>
      {props.items.map((e) => (
        <tr key={e.id}>
          <td>{when(e.occurredAt)}</td>
          <td>{e.type}</td>
          <td>{e.keyId ? <Link to={`/keys/${e.keyId}`}>{e.keyId}</Link> : '—'}</td>
          <td>
            {e.actor.type} <span class="mono">{e.actor.id}</span>
          </td>
          <td>{e.request.ip ?? '—'}</td>
          <td class="mono">{e.position}</td>
        </tr>
      ))}
    </DataTable>
  );
}

function Export(props: { filters: Filters; token: string }): JSX.Element {
  const [format, setFormat] = useState<'jsonl' | 'csv'>('jsonl');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<{ verdict: Verdict; url: string; name: string } | null>(null);

  const run = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    if (result) URL.revokeObjectURL(result.url);
    setResult(null);
    try {
      const q = await query(props.filters, props.token);
      const res = await call('GET', `/v1/audit/export${qs({ ...q, format })}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const jwks = (await api<{ keys: JWK[] }>('GET', '/.well-known/jwks.json')).keys;
      let records: Uint8Array<ArrayBuffer>;
      let signed: SignedManifest;
      if (format === 'jsonl') {
        const parts = splitJsonl(bytes);
        records = parts.records;
        signed = JSON.parse(parts.trailer) as SignedManifest;
      } else {
        records = csvRecords(bytes);
        signed = await api<SignedManifest>('GET', res.headers.get('X-Audit-Manifest') ?? '');
      }
      const verdict = await verifyExport(records, signed, jwks);
      const name = `audit-export-${res.headers.get('X-Audit-To-Position') ?? 'now'}.${format}`;
      setResult({ verdict, url: URL.createObjectURL(new Blob([bytes])), name });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="panel">
      <h2>Export</h2>
      <p class="hint">
        Exports what the filters above select, oldest first, closed by a manifest signed by the service.
      </p>
      <div class="toolbar">
        <Labelled label="Format">
          <select value={format} onChange={(e) => setFormat(e.currentTarget.value as 'jsonl' | 'csv')}>
            <option value="jsonl">JSONL</option>
            <option value="csv">CSV</option>
          </select>
        </Labelled>
        <button class="primary" type="button" disabled={busy} onClick={() => void run()}>
          Export
        </button>
      </div>
      {busy && <Loading what="the export" />}
      <ErrorBox error={error} />
      {result && (
        <div class={`alert ${result.verdict.ok ? 'success' : 'error'}`} role="status">
          <p>{result.verdict.summary}</p>
          <a href={result.url} download={result.name}>
            Download {result.name}
          </a>
        </div>
      )}
    </div>
  );
}
