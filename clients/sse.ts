// A minimal Server-Sent Events reader over fetch (Node 20 has no EventSource, and EventSource cannot send
// headers or report comment lines, which carry the feed's heartbeats).
import { createParser, type EventSourceParser } from 'eventsource-parser';

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

/** Incremental parser for the text/event-stream format (WHATWG HTML §9.2.6), over eventsource-parser. */
export class SseParser {
  private readonly parser: EventSourceParser;
  /** The last event id persists across events until the stream sets another (the spec's last event ID buffer). */
  private lastId: string | null = null;

  constructor(h: SseHandlers) {
    this.parser = createParser({
      onEvent: (e) => {
        if (e.id !== undefined) this.lastId = e.id;
        h.onEvent({ id: this.lastId, event: e.event ?? 'message', data: e.data });
      },
      onComment: (text) => h.onComment?.(text.trimStart()),
      onRetry: (ms) => h.onRetry?.(ms),
    });
  }

  push(chunk: string): void {
    this.parser.feed(chunk);
  }
}

/** Opens one event stream and reads it until it ends (resolves) or fails (rejects). Abort with `signal`. */
export async function readEventStream(
  url: string,
  opts: { headers?: Record<string, string>; signal: AbortSignal; fetch?: typeof fetch },
  h: SseHandlers,
): Promise<void> {
  const res = await (opts.fetch ?? fetch)(url, {
    headers: { accept: 'text/event-stream', ...opts.headers },
    signal: opts.signal,
  });
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
