// Server-Sent Events, written once: open a text/event-stream answer, send events with backpressure, heartbeat, end.
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';

export interface SseMessage {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

export interface EventStreamOptions {
  /** Reconnect delay suggested to EventSource clients (`retry:`). */
  readonly retryMs: number;
  /** Interval of heartbeat comments, so proxies keep an idle stream open and clients can tell it is alive. */
  readonly heartbeatMs: number;
  /** The next heartbeat comment, or null to send none this time. */
  readonly heartbeat: () => string | null;
  /** A comment sent with the retry hint, first thing on the stream. */
  readonly hello?: string;
}

/**
 * The open streams of one server. An event stream never finishes on its own and server.close() waits for every open
 * connection, so shutdown ends them first; a stream opened after that is ended at once.
 */
export class EventStreams {
  private readonly open = new Set<EventStream>();
  private closing = false;

  get size(): number {
    return this.open.size;
  }

  add(stream: EventStream): void {
    if (this.closing) stream.close({ endConnection: true });
    else this.open.add(stream);
  }

  delete(stream: EventStream): void {
    this.open.delete(stream);
  }

  closeAll(): void {
    this.closing = true;
    for (const s of [...this.open]) s.close({ endConnection: true });
  }
}

/** Field values may not hold line breaks: each line of a value becomes a line of its own field. */
function lines(field: string, value: string): string {
  if (!value.includes('\n') && !value.includes('\r')) return `${field}${value}\n`;
  return value
    .split(/\r\n|\r|\n/)
    .map((l) => `${field}${l}\n`)
    .join('');
}

export class EventStream {
  private ended = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly onClose: Array<() => void> = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly streams: EventStreams,
    opts: EventStreamOptions,
  ) {
    res.once('close', () => this.close());
    res.once('error', () => this.close());
    this.heartbeat = setInterval(() => {
      const text = opts.heartbeat();
      if (text !== null) this.comment(text);
    }, opts.heartbeatMs);
    this.heartbeat.unref();
    res.write(`retry: ${opts.retryMs}\n${opts.hello === undefined ? '' : lines(': ', opts.hello)}\n`);
    streams.add(this);
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Writes one event; false when the socket's buffer is full (then wait for `drained()` before the next). */
  send(m: SseMessage): boolean {
    if (this.ended) return false;
    const id = m.id === undefined ? '' : lines('id: ', m.id);
    const event = m.event === undefined ? '' : lines('event: ', m.event);
    return this.res.write(`${id}${event}${lines('data: ', m.data)}\n`);
  }

  /** Resolves once the client took what was buffered (or the stream closed): a slow reader lags with bounded memory. */
  drained(): Promise<void> {
    if (this.ended || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }

  /** A comment line (ignored by EventSource; our client reads heartbeats and `caught-up` from them). */
  comment(text: string): void {
    if (!this.ended) this.res.write(`${lines(': ', text)}\n`);
  }

  /** Ends the stream with an `error` event carrying `data`, so clients fail closed at once. */
  fail(data: unknown): void {
    if (this.ended) return;
    this.send({ event: 'error', data: JSON.stringify(data) });
    this.close();
  }

  /** Runs `fn` once, when the stream closes for any reason (ended here, by the client, or by shutdown). */
  whenClosed(fn: () => void): void {
    if (this.ended) fn();
    else this.onClose.push(fn);
  }

  /** Ends the stream; `endConnection` also ends the keep-alive socket, which would otherwise hold server.close() open. */
  close(opts: { endConnection?: boolean } = {}): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    this.streams.delete(this);
    for (const fn of this.onClose.splice(0)) fn();
    const socket = this.res.socket;
    if (opts.endConnection && socket) this.res.once('finish', () => socket.end());
    this.res.end();
  }
}

/** Answers `ctx` with an open event stream (Koa steps aside); a client hanging up is normal here, not an error. */
export function openEventStream(ctx: Context, streams: EventStreams, opts: EventStreamOptions): EventStream {
  const socket = ctx.req.socket;
  socket.setTimeout(0);
  socket.setNoDelay(true);
  ctx.status = 200;
  ctx.respond = false;
  ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
  ctx.set('Cache-Control', 'no-cache, no-store, no-transform');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.res.writeHead(200);
  return new EventStream(ctx.res, streams, opts);
}
