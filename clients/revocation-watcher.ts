// A local, always-current set of dead key ids, fed by the ledger's revocation feed (Kafka topic or HTTP SSE).
// It fails closed: while it is not caught up, or has heard nothing (no event, no heartbeat, no fetch) for longer
// than the staleness bound, every key counts as revoked.
import type { RunningSource, SourceSink, KafkaWatchOptions } from './kafka-source.js';
import { parseCursor, REVOCATION_TYPES, type RevocationEvent } from './protocol.js';
import { readEventStream, SseHttpError } from './sse.js';

export interface RevocationWatcherOptions {
  /** Base URL of the ledger (HTTP feed: GET {url}/v1/revocations/stream). Give `url` or `kafka`. */
  readonly url?: string;
  /** Credential for the HTTP feed (an API key with keys:verify or audit:read), sent as a Bearer token. */
  readonly token?: string;
  /** Read the revocations topic instead. */
  readonly kafka?: KafkaWatchOptions;
  /** Fail closed after this long without any sign of life from the feed (default 30 s). */
  readonly staleAfterMs?: number;
  /** HTTP feed: resume after this cursor instead of reading from the beginning (the set then starts empty). */
  readonly initialCursor?: string;
  /** Reconnect backoff (default 100 ms doubling up to 5 s). */
  readonly reconnect?: { readonly initialMs: number; readonly maxMs: number };
  /** Called after each event is applied, with the cursor (HTTP) or "partition:offset" (Kafka) it was read at. */
  readonly onEvent?: (ev: RevocationEvent, position: string) => void;
  readonly onError?: (err: unknown) => void;
  readonly fetch?: typeof fetch;
  /** Clock for staleness decisions (tests). */
  readonly now?: () => number;
}

export interface WatcherCheck {
  /** true when the set can be trusted right now. */
  readonly fresh: boolean;
  readonly stale: boolean;
  readonly caughtUp: boolean;
  readonly connected: boolean;
  /** ms since the last event or heartbeat (null: never heard from the feed). */
  readonly silentForMs: number | null;
  /** HTTP: the last cursor applied. */
  readonly cursor: string | null;
  /** Kafka: the last offset applied per partition. */
  readonly offsets: Readonly<Record<string, string>> | null;
  readonly revoked: number;
  readonly suspended: number;
  readonly lastError: string | null;
}

export interface RevocationWatcher {
  /** Resolves once the watcher has applied everything the feed held when it connected (rejects on close). */
  readonly ready: Promise<void>;
  /** true when the key is revoked, expired, retired or suspended — or when the watcher is stale (fail closed). */
  isRevoked(keyId: string): boolean;
  /** The set alone, ignoring staleness. */
  isKnownRevoked(keyId: string): boolean;
  check(): WatcherCheck;
  /** HTTP feed: last applied cursor (pass back as initialCursor to resume). */
  readonly cursor: string | null;
  close(): Promise<void>;
}

export function createRevocationWatcher(opts: RevocationWatcherOptions): RevocationWatcher {
  if ((opts.url === undefined) === (opts.kafka === undefined)) throw new TypeError('createRevocationWatcher: give exactly one of url or kafka');
  if (opts.initialCursor !== undefined && parseCursor(opts.initialCursor) === null) throw new TypeError('initialCursor is not a ledger cursor');
  const staleAfterMs = opts.staleAfterMs ?? 30_000;
  const now = opts.now ?? Date.now;
  const backoff = opts.reconnect ?? { initialMs: 100, maxMs: 5000 };
  const terminal = new Set<string>();
  const suspended = new Set<string>();
  const offsets: Record<string, string> = {};
  let cursor: string | null = opts.initialCursor ?? null;
  let lastSeen: number | null = null;
  let caughtUp = false;
  let connected = false;
  let closed = false;
  let lastError: string | null = null;
  const abort = new AbortController();
  let resolveReady!: () => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => undefined);

  const alive = (): void => {
    lastSeen = now();
  };
  const markCaughtUp = (): void => {
    alive();
    if (!caughtUp) {
      caughtUp = true;
      resolveReady();
    }
  };
  const error = (err: unknown): void => {
    lastError = err instanceof Error ? err.message : String(err);
    opts.onError?.(err);
  };
  const apply = (ev: RevocationEvent, position: string): void => {
    alive();
    const keyId = ev.data?.keyId ?? ev.subject;
    if (typeof keyId !== 'string') return;
    if (ev.type === REVOCATION_TYPES.reinstated || ev.data?.action === 'reinstate') suspended.delete(keyId);
    else if (
      ev.data?.terminal === true ||
      ev.type === REVOCATION_TYPES.revoked ||
      ev.type === REVOCATION_TYPES.expired ||
      ev.type === REVOCATION_TYPES.retired
    ) {
      terminal.add(keyId);
      suspended.delete(keyId);
    } else if (!terminal.has(keyId)) suspended.add(keyId);
    opts.onEvent?.(ev, position);
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });

  let source: RunningSource | null = null;
  let loop: Promise<void>;

  if (opts.url !== undefined) {
    const streamUrl = `${opts.url.replace(/\/+$/, '')}/v1/revocations/stream`;
    loop = (async () => {
      let delay = backoff.initialMs;
      while (!closed) {
        try {
          const headers: Record<string, string> = {};
          if (opts.token) headers.authorization = `Bearer ${opts.token}`;
          if (cursor !== null) headers['last-event-id'] = cursor;
          await readEventStream(
            streamUrl,
            { headers, signal: abort.signal, ...(opts.fetch ? { fetch: opts.fetch } : {}) },
            {
              onOpen: () => {
                connected = true;
                delay = backoff.initialMs;
                alive();
              },
              onEvent: (e) => {
                let ev: RevocationEvent;
                try {
                  ev = JSON.parse(e.data) as RevocationEvent;
                } catch (err) {
                  error(err);
                  return;
                }
                if (e.id !== null && e.id !== '') cursor = e.id;
                apply(ev, e.id ?? ev.ledgercursor);
              },
              onComment: (text) => {
                if (text.startsWith('caught-up')) markCaughtUp();
                else alive();
              },
            },
          );
          if (!closed) error(new Error('event stream ended'));
        } catch (err) {
          if (closed) break;
          error(err);
          // A refused credential will not heal by hammering; back off to the maximum.
          if (err instanceof SseHttpError && (err.status === 401 || err.status === 403)) delay = backoff.maxMs;
        }
        connected = false;
        if (closed) break;
        await sleep(delay);
        delay = Math.min(backoff.maxMs, delay * 2);
      }
    })();
  } else {
    const k = opts.kafka!;
    const sink: SourceSink = {
      event: (ev, partition, offset) => {
        offsets[String(partition)] = offset;
        apply(ev, `${partition}:${offset}`);
      },
      alive: () => {
        connected = true;
        alive();
      },
      caughtUp: markCaughtUp,
      error,
    };
    const maxWaitMs = Math.max(50, Math.min(1000, Math.floor(staleAfterMs / 3)));
    loop = (async () => {
      const { startKafkaSource } = await import('./kafka-source.js');
      let delay = backoff.initialMs;
      while (!closed && source === null) {
        try {
          const s = await startKafkaSource(k, maxWaitMs, sink);
          if (closed) await s.close();
          else source = s;
        } catch (err) {
          error(err);
          await sleep(delay);
          delay = Math.min(backoff.maxMs, delay * 2);
        }
      }
    })();
  }
  loop.catch(error);

  const check = (): WatcherCheck => {
    const silentForMs = lastSeen === null ? null : now() - lastSeen;
    const stale = !caughtUp || silentForMs === null || silentForMs > staleAfterMs;
    return {
      fresh: !stale && !closed,
      stale: stale || closed,
      caughtUp,
      connected,
      silentForMs,
      cursor,
      offsets: opts.kafka ? { ...offsets } : null,
      revoked: terminal.size,
      suspended: suspended.size,
      lastError,
    };
  };

  return {
    ready,
    isRevoked: (keyId) => !check().fresh || terminal.has(keyId) || suspended.has(keyId),
    isKnownRevoked: (keyId) => terminal.has(keyId) || suspended.has(keyId),
    check,
    get cursor() {
      return cursor;
    },
    async close() {
      if (closed) return;
      closed = true;
      abort.abort();
      rejectReady(new Error('watcher closed'));
      // A Kafka start attempt cannot be interrupted; it closes what it opened once it returns.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([loop.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      await source?.close();
      source = null;
    },
  };
}
