// Revocations: the live SSE feed, newest first. EventSource cannot send an Authorization header and the session
// must never be in a URL, so the stream is read with fetch and parsed with eventsource-parser.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { createParser } from 'eventsource-parser';
import { ApiError, call } from '../api';
import { Empty, ErrorBox, Link, when, DataTable } from '../ui';

interface FeedEvent {
  id: string;
  type: string;
  subject: string;
  time: string;
  data: { workspaceId?: string; reason?: string | null };
}

type State = 'connecting' | 'live' | 'ended';

const KEEP = 500;

export function RevocationsPage(): JSX.Element {
  const [events, setEvents] = useState<FeedEvent[]>([]);
  const [state, setState] = useState<State>('connecting');
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const abort = new AbortController();
    const follow = async (): Promise<void> => {
      const res = await call('GET', '/v1/revocations/stream', undefined, abort.signal);
      const parser = createParser({
        onEvent: (m) => {
          if (m.event === 'error') {
            setError(new ApiError(0, 'feed_ended', `The feed ended: ${m.data}`));
            return;
          }
          const e = JSON.parse(m.data) as FeedEvent;
          setEvents((old) => [e, ...old].slice(0, KEEP));
        },
        onComment: (c) => {
          if (c.startsWith('caught-up') || c.startsWith('connected')) setState('live');
        },
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      setState('ended');
    };
    follow().catch((err: unknown) => {
      if ((err as Error).name === 'AbortError') return;
      setError(err);
      setState('ended');
    });
    return () => abort.abort();
  }, []);

  return (
    <section>
      <h1>Revocations</h1>
      <p role="status" class="hint">
        {state === 'connecting'
          ? 'Connecting to the live feed…'
          : state === 'live'
            ? '● Live: newest first.'
            : 'The feed has ended; reload the page to reconnect.'}
      </p>
      <ErrorBox error={error} />
      {events.length === 0 ? (
        <Empty>No revocations, expiries or deactivations in your workspaces yet.</Empty>
      ) : (
        <DataTable label="Revocation feed" columns={['When', 'What', 'Key', 'Workspace', 'Reason']}>
          {events.map((e) => (
            <tr key={e.id}>
              <td>{when(e.time)}</td>
              <td>{e.type.split('.').pop()}</td>
              <td>
                <Link to={`/keys/${e.subject}`}>{e.subject}</Link>
              </td>
              <td class="mono">{e.data.workspaceId ?? '—'}</td>
              <td>{e.data.reason ?? '—'}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
