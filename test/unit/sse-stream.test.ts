// The server's SSE helper over a real socket, read back with the client's parser: framing, heartbeats, an error
// event that ends the stream, backpressure, and shutdown ending every open stream.
import { expect } from 'chai';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readEventStream, type SseEvent } from '../../clients/sse.js';
import { EventStream, EventStreams, type EventStreamOptions } from '../../services/http/sse.js';
import { waitUntil } from '../support/async.js';

interface Harness {
  url: string;
  server: Server;
  streams: EventStreams;
  opened: EventStream[];
  responses: ServerResponse[];
}

async function serve(opts: Partial<EventStreamOptions> = {}): Promise<Harness> {
  const streams = new EventStreams();
  const opened: EventStream[] = [];
  const responses: ServerResponse[] = [];
  const server = createServer((_req, res: ServerResponse) => {
    responses.push(res);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    opened.push(new EventStream(res, streams, { retryMs: 250, heartbeatMs: 60_000, heartbeat: () => null, ...opts }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server, streams, opened, responses };
}

function read(url: string) {
  const ac = new AbortController();
  const got = { events: [] as SseEvent[], comments: [] as string[], retry: 0, ended: false };
  const done = readEventStream(
    url,
    { signal: ac.signal },
    { onEvent: (e) => got.events.push(e), onComment: (c) => got.comments.push(c), onRetry: (ms) => (got.retry = ms) },
  )
    .catch((err: unknown) => {
      if (!ac.signal.aborted) throw err;
    })
    .finally(() => (got.ended = true));
  return { got, done, abort: () => ac.abort() };
}

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

describe('unit: SSE stream helper', () => {
  it('frames events (multi-line data split into data lines), comments, the retry hint and heartbeats', async () => {
    let beats = 0;
    const h = await serve({
      hello: 'connected position=3',
      heartbeatMs: 20,
      heartbeat: () => (++beats <= 2 ? `heartbeat ${beats}` : null),
    });
    const c = read(h.url);
    try {
      await waitUntil(() => h.opened.length === 1, 2000, 'the stream to open');
      const st = h.opened[0]!;
      expect(st.send({ id: '7', data: '{"a":1}' })).to.equal(true);
      st.send({ id: '8.0', event: 'note', data: 'line one\nline two\r\nline three' });
      st.comment('caught-up position=8');
      await waitUntil(
        () => c.got.events.length === 2 && c.got.comments.filter((x) => x.startsWith('heartbeat')).length === 2,
        2000,
        'events',
      );
      expect(c.got.retry).to.equal(250);
      expect(c.got.events).to.deep.equal([
        { id: '7', event: 'message', data: '{"a":1}' },
        { id: '8.0', event: 'note', data: 'line one\nline two\nline three' },
      ]);
      expect(c.got.comments.filter((x) => !x.startsWith('heartbeat'))).to.deep.equal([
        'connected position=3',
        'caught-up position=8',
      ]);
    } finally {
      c.abort();
      await c.done;
      await close(h.server);
    }
  });

  it('fail() sends an error event and ends the stream; closing runs the close hooks once', async () => {
    const h = await serve();
    const c = read(h.url);
    try {
      await waitUntil(() => h.opened.length === 1, 2000, 'the stream to open');
      const st = h.opened[0]!;
      let hooks = 0;
      st.whenClosed(() => hooks++);
      st.fail({ code: 'feed_unavailable' });
      await c.done;
      expect(c.got.events).to.deep.equal([{ id: null, event: 'error', data: '{"code":"feed_unavailable"}' }]);
      expect(st.closed).to.equal(true);
      expect(st.send({ data: 'late' })).to.equal(false);
      st.close();
      expect(hooks).to.equal(1);
      expect(h.streams.size).to.equal(0);
    } finally {
      await close(h.server);
    }
  });

  it('a reader that stops reading makes send() report a full buffer, and drained() waits until it reads again', async function () {
    this.timeout(20_000);
    const h = await serve();
    const res = await fetch(h.url);
    const reader = res.body!.getReader();
    try {
      await waitUntil(() => h.opened.length === 1, 2000, 'the stream to open');
      const st = h.opened[0]!;
      const chunk = 'x'.repeat(64 * 1024);
      let full = 0;
      // More than the socket buffers can take while nobody reads: the rest waits in the process.
      while (h.responses[0]!.writableLength < 8 * 1024 * 1024) if (!st.send({ data: chunk })) full++;
      expect(full, 'sends that found the buffer full').to.be.above(0);
      let drained = false;
      const waiting = st.drained().then(() => (drained = true));
      await new Promise((r) => setImmediate(r));
      expect(drained).to.equal(false);
      let bytes = 0;
      while (!drained) {
        const { value, done } = await reader.read();
        if (done) break;
        bytes += value.length;
      }
      await waiting;
      expect(bytes).to.be.above(0);
    } finally {
      await reader.cancel().catch(() => undefined);
      await close(h.server);
    }
  });

  it('closeAll() ends every open stream (so server.close() can finish) and any stream opened afterwards', async () => {
    const h = await serve();
    const a = read(h.url);
    const b = read(h.url);
    await waitUntil(() => h.opened.length === 2, 2000, 'both streams to open');
    expect(h.streams.size).to.equal(2);
    h.streams.closeAll();
    await Promise.all([a.done, b.done]);
    expect(h.streams.size).to.equal(0);
    const late = read(h.url);
    await late.done;
    expect(h.opened[2]!.closed).to.equal(true);
    await close(h.server);
  });
});
