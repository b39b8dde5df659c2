// HTTP feeds for services without Kafka: a paged list (poll, compare RFC 8936) and a Server-Sent Events stream.
// Cursors are ledger positions ("P", or "P.i" inside a per-key fan-out); an SSE event's id is its cursor, so a
// reconnect with Last-Event-ID resumes exactly after the last event the client saw.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseCursor, type Cursor } from '../../clients/protocol.js';
import type { Ledger } from '../ledger.js';
import { tenants, type Caller } from '../http/auth.js';
import { HttpError, permissionDenied } from '../http/errors.js';
import type { Metrics } from '../http/metrics.js';
import { route, type RouteDef } from '../http/route.js';
import { arr, bool, obj, str } from '../http/schema.js';
import type { RevocationFeed } from '../../projections/revocations/feed.js';

export interface FeedRouteOptions {
  /** Comment lines sent on idle streams so proxies keep them open and clients can tell the feed is alive. */
  readonly heartbeatMs: number;
  /** Reconnect delay suggested to EventSource clients. */
  readonly retryMs: number;
  readonly metrics?: Metrics;
}

const CURSOR_PATTERN = '^(-1|0|[1-9][0-9]{0,15})(\\.(0|[1-9][0-9]{0,8}))?$';

const cloudEventSchema = obj(
  {
    specversion: str(),
    id: str(),
    source: str(),
    type: str(),
    subject: str({ description: 'key id' }),
    time: str({ format: 'date-time' }),
    datacontenttype: str(),
    data: obj({}),
    ledgerposition: { type: 'integer' },
    ledgercursor: str(),
  },
  [],
  { description: 'CloudEvents 1.0 (structured JSON): one revocation-class fact about one key' },
);

/**
 * Which items the caller may see: those about workspaces where it holds keys:verify or audit:read (a system admin
 * session: all). Asked again for every page, so a role change applies at once.
 */
function feedFilter(ledger: Ledger, caller: Caller): ((workspaceId: string | null) => boolean) | undefined {
  const mine = tenants(ledger, caller, 'feed.read');
  if (mine === null) return undefined;
  if (mine.length === 0) throw permissionDenied('keys:verify');
  const set = new Set(mine);
  return (ws) => ws !== null && set.has(ws);
}

const FEED_UNAVAILABLE = { code: 'feed_unavailable', detail: 'The revocation feed is not following the ledger right now; retry later.' } as const;

/**
 * A feed still replaying the log at start-up, or one that stopped following it, is refused outright: serving it
 * would let clients trust a partial or stale set.
 */
function demandHealthyFeed(feed: RevocationFeed): void {
  if (!feed.ok) throw new HttpError(503, FEED_UNAVAILABLE.code, FEED_UNAVAILABLE.detail, { type: 'server_error', headers: { 'Retry-After': '5' } });
}

/** Whether cursor `a` lies after `b` (an index-less cursor covers its whole position). */
function laterThan(a: Cursor, b: Cursor | null): boolean {
  if (b === null) return true;
  if (a.position !== b.position) return a.position > b.position;
  if (b.index === null) return false;
  return a.index === null || a.index > b.index;
}

function cursorParam(raw: string | undefined, attr: string): Cursor | null {
  if (raw === undefined || raw === '') return null;
  const c = parseCursor(raw.trim());
  if (c === null) throw new HttpError(400, 'invalid_cursor', 'The cursor is not a ledger position.', { attr, type: 'validation_error' });
  return c;
}

/** Whether the credential a stream was opened with still holds (a revoked key must not keep listening). */
function stillAuthorized(ledger: Ledger, caller: Caller): boolean {
  const now = ledger.clock().getTime();
  const user = ledger.read.findUser(caller.user.id);
  if (!user || !user.active) return false;
  if (caller.key) {
    const k = ledger.read.findKey(caller.key.id);
    if (k === undefined || !ledger.read.check(k, { now }).valid) return false;
  } else {
    if (caller.sessionId !== null && !ledger.read.sessionActive(caller.sessionId, caller.user.id, now)) return false;
    if (caller.sessionExpiresAt !== null && now >= caller.sessionExpiresAt) return false;
  }
  const mine = tenants(ledger, caller, 'feed.read');
  return mine === null || mine.length > 0;
}

/** Facts that can end a stream's credential or its right to the feed: checked the moment they are applied. */
const CREDENTIAL_EVENTS: ReadonlySet<string> = new Set([
  'ApiKeyRevoked',
  'ApiKeyExpired',
  'UserDeactivated',
  'UserLoggedOut',
  'UserPasswordChanged',
  'WorkspaceMemberRemoved',
  'WorkspaceMemberRoleSet',
]);

/** How often an open stream re-checks its credential for time-based ends (expiry, session end). */
const RECHECK_MS = 500;

const CREDENTIAL_ENDED = { code: 'invalid_token', detail: 'The credential this stream was opened with is no longer valid.' } as const;

// Open streams end when their server stops listening: server.close() waits for open connections, and an
// event stream never finishes on its own. One shared, unref'd timer watches while any stream is open.
const openStreams = new Set<() => void>();
let closeWatch: NodeJS.Timeout | null = null;
function watchServerClose(check: () => void): () => void {
  openStreams.add(check);
  if (closeWatch === null) {
    closeWatch = setInterval(() => {
      for (const c of [...openStreams]) c();
    }, 100);
    closeWatch.unref();
  }
  return () => {
    openStreams.delete(check);
    if (openStreams.size === 0 && closeWatch !== null) {
      clearInterval(closeWatch);
      closeWatch = null;
    }
  };
}

export function revocationRoutes(ledger: Ledger, feed: RevocationFeed, opts: FeedRouteOptions): RouteDef[] {
  let streams = 0;
  opts.metrics?.gauge('ledger_revocation_streams', 'Open revocation SSE streams', () => streams);
  return [
    route({
      method: 'GET',
      path: '/v1/revocations',
      summary: 'Revocation feed, paged: revocation-class events (one per affected key) after a cursor',
      tag: 'verification',
      auth: 'required',
      urlToken: true,
      query: {
        after: str({ pattern: CURSOR_PATTERN, description: 'cursor (ledger position) of the last item already applied; omit to start at the beginning' }),
        limit: str({ pattern: '^[0-9]{1,4}$', description: 'page size, 1–1000 (default 100)' }),
      },
      responses: {
        200: {
          description: 'a page of CloudEvents; poll again with after=nextCursor',
          schema: obj({ items: arr(cloudEventSchema), nextCursor: str(), hasMore: bool() }),
        },
        503: { description: 'feed_unavailable: the feed is still replaying the log or stopped following it' },
      },
      handler: ({ ctx, query, caller }) => {
        const visible = feedFilter(ledger, caller);
        demandHealthyFeed(feed);
        const limit = query.limit === undefined ? 100 : Number(query.limit);
        if (!(limit >= 1 && limit <= 1000))
          throw new HttpError(400, 'invalid', 'limit must be between 1 and 1000.', { attr: 'limit', type: 'validation_error' });
        const p = feed.page(cursorParam(query.after, 'after'), limit, visible);
        ctx.set('Cache-Control', 'no-store');
        return { items: p.items.map((i) => i.event), nextCursor: p.nextCursor, hasMore: p.hasMore };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/revocations/stream',
      summary: 'Revocation feed, live (Server-Sent Events): each event id is its cursor; reconnect with Last-Event-ID',
      tag: 'verification',
      auth: 'required',
      urlToken: true,
      query: {
        after: str({ pattern: CURSOR_PATTERN, description: 'start after this cursor (Last-Event-ID wins when both are sent)' }),
      },
      responses: {
        200: {
          description: 'text/event-stream of CloudEvents (data: JSON); comment lines are heartbeats; an `error` event ends the stream',
          contentType: 'text/event-stream',
        },
        503: { description: 'feed_unavailable: the feed is still replaying the log or stopped following it' },
      },
      handler: ({ ctx, query, caller }) => {
        feedFilter(ledger, caller);
        demandHealthyFeed(feed);
        const lastEventId = ctx.get('last-event-id');
        let cursor = lastEventId !== '' ? cursorParam(lastEventId, 'Last-Event-ID') : cursorParam(query.after, 'after');

        const socket = ctx.req.socket as Socket & { server?: Server };
        socket.setTimeout(0);
        socket.setNoDelay(true);
        // Written straight to the response (Koa steps aside): a client hanging up is normal here, not an error.
        const out = ctx.res;
        ctx.status = 200;
        ctx.respond = false;
        ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
        ctx.set('Cache-Control', 'no-cache, no-store, no-transform');
        ctx.set('X-Accel-Buffering', 'no');
        out.writeHead(200);

        let closed = false;
        let wake: (() => void) | null = null;
        const unsubscribe = feed.onChange(() => wake?.());
        const stopWatch = watchServerClose(() => {
          if (socket.server && !socket.server.listening) close(true);
        });
        const heartbeat = setInterval(() => {
          if (failedFeed() || credentialEnded()) return;
          out.write(`: heartbeat ${new Date().toISOString()} position=${feed.position}\n\n`);
        }, opts.heartbeatMs);
        // A revoked credential ends its stream within a second: on the fact itself, or on the next re-check.
        const recheck = setInterval(() => credentialEnded(), RECHECK_MS);
        recheck.unref();
        const stopWatchingFacts = ledger.read.onApplied((e) => {
          if (CREDENTIAL_EVENTS.has(e.type)) credentialEnded();
        });
        streams++;

        function close(serverClosing: boolean): void {
          if (closed) return;
          closed = true;
          streams--;
          clearInterval(heartbeat);
          clearInterval(recheck);
          stopWatchingFacts();
          unsubscribe();
          stopWatch();
          wake?.();
          out.end();
          // A keep-alive socket would hold server.close() open after the stream ends.
          if (serverClosing) out.once('finish', () => socket.end());
        }
        out.once('close', () => close(false));
        out.once('error', () => close(false));

        /** A credential that no longer holds ends the stream with an `error` event naming why. */
        function credentialEnded(): boolean {
          if (closed || stillAuthorized(ledger, caller)) return false;
          out.write(`event: error\ndata: ${JSON.stringify(CREDENTIAL_ENDED)}\n\n`);
          close(false);
          return true;
        }

        /** A failed feed ends the stream with an `error` event and sends no more heartbeats: clients fail closed. */
        function failedFeed(): boolean {
          if (feed.failure === null) return false;
          if (!closed) out.write(`event: error\ndata: ${JSON.stringify(FEED_UNAVAILABLE)}\n\n`);
          close(false);
          return true;
        }

        const pump = async (): Promise<void> => {
          out.write(`retry: ${opts.retryMs}\n: connected position=${feed.position}\n\n`);
          let caughtUp = false;
          while (!closed) {
            if (failedFeed() || credentialEnded()) return;
            const page = feed.page(cursor, 500, feedFilter(ledger, caller));
            // Items this caller may not see are skipped once: the next scan starts after them.
            const skipTo = parseCursor(page.nextCursor);
            const resumeAt = skipTo !== null && page.items.length === 0 && laterThan(skipTo, cursor) ? skipTo : null;
            if (page.items.length === 0 && page.hasMore && resumeAt !== null) {
              cursor = resumeAt;
              continue;
            }
            if (page.items.length === 0) {
              cursor = resumeAt ?? cursor;
              // Tells our client the backlog is done (EventSource ignores comments).
              if (!caughtUp) out.write(`: caught-up position=${feed.position}\n\n`);
              caughtUp = true;
              await new Promise<void>((resolve) => (wake = resolve));
              wake = null;
              continue;
            }
            for (const it of page.items) {
              if (closed) return;
              const ok = out.write(`id: ${it.cursor}\ndata: ${it.json}\n\n`);
              cursor = { position: it.position, index: it.index };
              // A slow reader lags (bounded memory) instead of buffering the whole feed.
              if (!ok)
                await new Promise<void>((resolve) => {
                  const done = (): void => {
                    out.off('drain', done);
                    out.off('close', done);
                    resolve();
                  };
                  out.once('drain', done);
                  out.once('close', done);
                });
            }
          }
        };
        pump().catch(() => close(false));
        return undefined;
      },
    }),
  ];
}
