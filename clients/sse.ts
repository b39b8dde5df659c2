// A minimal Server-Sent Events reader over fetch (Node 20 has no EventSource, and EventSource cannot send
// headers or report comment lines, which carry the feed's heartbeats).

export interface SseEvent {
  readonly id: string | null;
  readonly event: string;
  readonly data: string;
}

export interface SseHandlers {
  onOpen?(): void;
  onEvent(ev: SseEvent): void;
  /** Comment lines (": ..."), e.g. heartbeats. */
  onComment?(text: string): void;
  onRetry?(ms: number): void;
}

export class SseHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`event stream refused: HTTP ${status}`);
  }
}

/** Incremental parser for the text/event-stream format (WHATWG HTML §9.2.6). */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private id: string | null = null;
  private event = '';
  private sawCr = false;

  constructor(private readonly h: SseHandlers) {}

  push(chunk: string): void {
    let text = chunk;
    // A "\r\n" split across chunks: the "\n" belongs to the "\r" already handled.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      if (m[0] === '\r' && m.index === this.buf.length - 1) {
        this.sawCr = true;
      }
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.h.onEvent({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) {
      this.h.onComment?.(line.slice(1).trimStart());
      return;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.h.onRetry?.(Number(value));
        break;
      default:
        break;
    }
  }
}

/** Opens one event stream and reads it until it ends (resolves) or fails (rejects). Abort with `signal`. */
export async function readEventStream(
  url: string,
  opts: { headers?: Record<string, string>; signal: AbortSignal; fetch?: typeof fetch },
  h: SseHandlers,
): Promise<void> {
  const res = await (opts.fetch ?? fetch)(url, { headers: { accept: 'text/event-stream', ...opts.headers }, signal: opts.signal });
  if (res.status !== 200 || !res.body) {
    const body = await res.text().catch(() => '');
    throw new SseHttpError(res.status, body.slice(0, 500));
  }
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await res.body.cancel().catch(() => undefined);
    throw new Error(`not an event stream: ${res.headers.get('content-type')}`);
  }
  h.onOpen?.();
  const parser = new SseParser(h);
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.releaseLock();
  }
}
