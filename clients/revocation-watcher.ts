// A local, always-current set of dead key ids (and of live keys' role-narrowed scopes), fed by the ledger's
// revocation feed (Kafka topic or HTTP SSE).
// It reads the feed from the beginning (SSE cursor -1, Kafka earliest offset) so the set is complete, unless it is
// given a snapshot it persisted earlier. It fails closed: while it is not caught up, or has had no sign of life
// from the ledger for longer than the staleness bound, every key counts as revoked. Signs of life: SSE events and
// heartbeat comments; on Kafka, new events and the publisher's heartbeats (a broker answering fetches is not one:
// the broker can be up while the ledger's publisher is stalled).
import { setTimeout as delay } from 'node:timers/promises';
import type { ReadAt, RunningSource, SourceSink, KafkaWatchOptions } from './kafka-source.js';
import { parseCursor, REVOCATION_TYPES, type HeartbeatData, type RevocationEvent } from './protocol.js';
import { readEventStream, SseHttpError } from './sse.js';

const isScopeList = (v: unknown): v is readonly string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

export interface RevocationWatcherOptions {
  /** Base URL of the ledger (HTTP feed: GET {url}/v1/revocations/stream). Give `url` or `kafka`. */
  readonly url?: string;
  /** Credential for the HTTP feed (an API key with keys:verify or audit:read), sent as a Bearer token. */
  readonly token?: string;
  /** Read the revocations topic instead. */
  readonly kafka?: KafkaWatchOptions;
  /**
   * Fail closed after this long without any sign of life from the feed (default 30 s). On Kafka it must be well
   * above the publisher's heartbeat interval (LEDGER_KAFKA_HEARTBEAT_MS, default 5 s); heartbeats reporting a
   * publisher lag above it do not count either.
   */
  readonly staleAfterMs?: number;
  /**
   * HTTP feed: resume from a snapshot this watcher's snapshot() gave earlier (cursor and set together) instead of
   * reading the feed from the beginning. A cursor without its set would miss every earlier revocation.
   */
  readonly initialState?: WatcherSnapshot;
  /** Reconnect backoff (default 100 ms doubling up to 5 s). */
  readonly reconnect?: { readonly initialMs: number; readonly maxMs: number };
  /** Called after each event is applied, with the cursor (HTTP) or "partition:offset" (Kafka) it was read at. */
  readonly onEvent?: (ev: RevocationEvent, position: string) => void;
  readonly onError?: (err: unknown) => void;
  readonly fetch?: typeof fetch;
  /** Clock for staleness decisions (tests). */
  readonly now?: () => number;
}

/** The watcher's state, to persist and pass back as initialState (HTTP feed). */
export interface WatcherSnapshot {
  /** Last cursor applied. */
  readonly cursor: string;
  /** Keys that can never verify again (revoked, expired, retired). */
  readonly revoked: readonly string[];
  /** Keys suspended with their owner (deactivated, removed from the workspace); a reinstate event lifts it. */
  readonly suspended: readonly string[];
  /** Live keys' effective scopes, from the latest event that stated them (role changes narrow or widen them). Absent in old snapshots. */
  readonly restrictions?: Readonly<Record<string, readonly string[]>>;
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
  /** Kafka: the last live publisher heartbeat, with the time it was sent. */
  readonly publisher: (HeartbeatData & { readonly time: string }) | null;
  readonly revoked: number;
  readonly suspended: number;
  readonly lastError: string | null;
}

export interface RevocationWatcher {
  /**
   * Resolves once the watcher has applied everything the feed held when it connected and has heard from the live
   * ledger (SSE: the stream; Kafka: a new heartbeat or event), i.e. once it is fresh. Rejects on close.
   */
  readonly ready: Promise<void>;
  /** true when the key is revoked, expired, retired or suspended — or when the watcher is stale (fail closed). */
  isRevoked(keyId: string): boolean;
  /** The set alone, ignoring staleness. */
  isKnownRevoked(keyId: string): boolean;
  /** The scopes the ledger last stated for a live key (its owner's role ∩ its scopes); null when none was stated. Ignores staleness. */
  restrictionOf(keyId: string): readonly string[] | null;
  check(): WatcherCheck;
  /** HTTP feed: last applied cursor. */
  readonly cursor: string | null;
  /** HTTP feed: cursor and set, to persist and pass back as initialState; null before anything was applied. */
  snapshot(): WatcherSnapshot | null;
  close(): Promise<void>;
}

export function createRevocationWatcher(opts: RevocationWatcherOptions): RevocationWatcher {
  if ((opts.url === undefined) === (opts.kafka === undefined))
    throw new TypeError('createRevocationWatcher: give exactly one of url or kafka');
  const init = opts.initialState;
  if (init !== undefined) {
    // The compacted topic is small and always read from the earliest offset; only the HTTP feed resumes.
    if (opts.kafka !== undefined)
      throw new TypeError(
        'initialState applies to the HTTP feed only; a Kafka watcher reads the topic from the earliest offset',
      );
    if (typeof init.cursor !== 'string' || parseCursor(init.cursor) === null)
      throw new TypeError('initialState.cursor is not a ledger cursor');
    if (!Array.isArray(init.revoked) || !Array.isArray(init.suspended))
      throw new TypeError('initialState needs the revoked and suspended sets');
    const r: unknown = init.restrictions;
    if (r !== undefined && (r === null || typeof r !== 'object' || Object.values(r).some((v) => !isScopeList(v))))
      throw new TypeError('initialState.restrictions must map key ids to scope lists');
  }
  const staleAfterMs = opts.staleAfterMs ?? 30_000;
  const now = opts.now ?? Date.now;
  const backoff = opts.reconnect ?? { initialMs: 100, maxMs: 5000 };
  const terminal = new Set<string>(init?.revoked ?? []);
  const suspended = new Set<string>(init?.suspended ?? []);
  const restrictions = new Map<string, readonly string[]>(Object.entries(init?.restrictions ?? {}));
  const offsets: Record<string, string> = {};
  let cursor: string | null = init?.cursor ?? null;
  let publisher: WatcherCheck['publisher'] = null;
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

  const maybeReady = (): void => {
    if (caughtUp && lastSeen !== null) resolveReady();
  };
  const alive = (): void => {
    lastSeen = now();
    maybeReady();
  };
  const markCaughtUp = (): void => {
    caughtUp = true;
    maybeReady();
  };
  const error = (err: unknown): void => {
    lastError = err instanceof Error ? err.message : String(err);
    opts.onError?.(err);
  };
  const apply = (ev: RevocationEvent, position: string): void => {
    const keyId = ev.data?.keyId ?? ev.subject;
    if (typeof keyId !== 'string') return;
    const scopes: unknown = ev.data?.scopes;
    if (ev.type === REVOCATION_TYPES.restricted || ev.data?.action === 'restrict') {
      // A restriction without a readable scope list fails closed: no scope at all.
      if (!terminal.has(keyId)) restrictions.set(keyId, isScopeList(scopes) ? [...scopes] : []);
      opts.onEvent?.(ev, position);
      return;
    }
    if (ev.type === REVOCATION_TYPES.reinstated || ev.data?.action === 'reinstate') suspended.delete(keyId);
    else if (
      ev.data?.terminal === true ||
      ev.type === REVOCATION_TYPES.revoked ||
      ev.type === REVOCATION_TYPES.expired ||
      ev.type === REVOCATION_TYPES.retired
    ) {
      terminal.add(keyId);
      suspended.delete(keyId);
      restrictions.delete(keyId);
    } else if (!terminal.has(keyId)) suspended.add(keyId);
    if (!terminal.has(keyId) && isScopeList(scopes)) restrictions.set(keyId, [...scopes]);
    opts.onEvent?.(ev, position);
  };

  /** A reconnect wait that close() ends at once. */
  const sleep = async (ms: number): Promise<void> => {
    try {
      await delay(ms, undefined, { signal: abort.signal });
    } catch (err) {
      if (!(abort.signal.aborted && (err as Error).name === 'AbortError')) throw err;
    }
  };

  let source: RunningSource | null = null;
  let loop: Promise<void>;

  if (opts.url !== undefined) {
    let base = opts.url;
    // Trailing slashes are cut without a regex (a backtracking pattern is quadratic on long runs of '/').
    while (base.endsWith('/')) base = base.slice(0, -1);
    const streamUrl = `${base}/v1/revocations/stream`;
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
                if (e.event === 'error') {
                  // The ledger says its feed is broken: stop trusting the set now, not after the bound.
                  lastSeen = null;
                  error(new Error(`revocation feed error: ${e.data.slice(0, 200)}`));
                  return;
                }
                if (e.event !== 'message') return;
                let ev: RevocationEvent;
                try {
                  ev = JSON.parse(e.data) as RevocationEvent;
                } catch (err) {
                  error(err);
                  return;
                }
                if (e.id !== null && e.id !== '') cursor = e.id;
                alive();
                apply(ev, e.id ?? ev.ledgercursor);
              },
              onComment: (text) => {
                alive();
                if (text.startsWith('caught-up')) markCaughtUp();
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
      event: (ev, at: ReadAt) => {
        offsets[String(at.partition)] = at.offset;
        if (at.live) alive();
        apply(ev, `${at.partition}:${at.offset}`);
      },
      heartbeat: (hb, at) => {
        const d = hb.data;
        if (!at.live || typeof d?.lagMs !== 'number' || typeof d.checkpoint !== 'number') return;
        publisher = {
          checkpoint: d.checkpoint,
          head: d.head,
          lagEvents: d.lagEvents,
          lagMs: d.lagMs,
          intervalMs: d.intervalMs,
          time: hb.time,
        };
        // A publisher that is alive but further behind than the bound cannot vouch for the set.
        if (d.lagMs <= staleAfterMs) alive();
      },
      connected: () => {
        connected = true;
      },
      caughtUp: markCaughtUp,
      error,
    };
    const maxWaitMs = Math.max(50, Math.min(1000, Math.floor(staleAfterMs / 3)));
    loop = (async () => {
      const { startKafkaSource } = await import('./kafka-source.js');
      let delay = backoff.initialMs;
      while (!closed) {
        try {
          const s = await startKafkaSource(k, maxWaitMs, sink);
          if (closed) {
            await s.close();
            break;
          }
          source = s;
          delay = backoff.initialMs;
          // A consumer kafkajs gave up on is replaced by a fresh one, which reads the topic from the start again.
          await s.ended;
          connected = false;
          if (source === s) source = null;
          await s.close();
        } catch (err) {
          error(err);
        }
        if (closed) break;
        await sleep(delay);
        delay = Math.min(backoff.maxMs, delay * 2);
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
      publisher,
      revoked: terminal.size,
      suspended: suspended.size,
      lastError,
    };
  };

  return {
    ready,
    isRevoked: (keyId) => !check().fresh || terminal.has(keyId) || suspended.has(keyId),
    isKnownRevoked: (keyId) => terminal.has(keyId) || suspended.has(keyId),
    restrictionOf: (keyId) => restrictions.get(keyId) ?? null,
    check,
    get cursor() {
      return cursor;
    },
    snapshot: () =>
      cursor === null
        ? null
        : { cursor, revoked: [...terminal], suspended: [...suspended], restrictions: Object.fromEntries(restrictions) },
    async close() {
      if (closed) return;
      closed = true;
      abort.abort();
      rejectReady(new Error('watcher closed'));
      // Ends the source, which lets the Kafka loop finish. A start attempt cannot be interrupted; it closes what it
      // opened once it returns.
      const s = source;
      source = null;
      await s?.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([loop.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    },
  };
}
