// HTTP feeds for services without Kafka: a paged list (poll, compare RFC 8936) and a Server-Sent Events stream.
// Cursors are ledger positions ("P", or "P.i" inside a per-key fan-out); an SSE event's id is its cursor, so a
// reconnect with Last-Event-ID resumes exactly after the last event the client saw.
import { parseCursor, type Cursor } from '../../clients/protocol.js';
import type { Ledger } from '../ledger.js';
import { tenants, type Caller } from '../http/auth.js';
import { HttpError, permissionDenied } from '../http/errors.js';
import type { Metrics } from '../metrics/registry.js';
import { openEventStream, type EventStreams } from '../http/sse.js';
import { route, type RouteDef } from '../http/route.js';
import { z } from 'zod';
import { anyObject, instantOut } from '../http/views.js';
import type { RevocationFeed } from '../../projections/revocations/feed.js';

export interface FeedRouteOptions {
  /** Comment lines sent on idle streams so proxies keep them open and clients can tell the feed is alive. */
  readonly heartbeatMs: number;
  /** Reconnect delay suggested to EventSource clients. */
  readonly retryMs: number;
  /** The server's open streams, which its shutdown ends. */
  readonly streams: EventStreams;
  readonly metrics?: Metrics;
}

const CURSOR_PATTERN = /^(-1|0|[1-9][0-9]{0,15})(\.(0|[1-9][0-9]{0,8}))?$/;

const cloudEventSchema = z
  .looseObject({
    specversion: z.string(),
    id: z.string(),
    source: z.string(),
    type: z.string(),
    subject: z.string().describe('key id'),
    time: instantOut,
    datacontenttype: z.string(),
    data: anyObject,
    ledgerposition: z.int(),
    ledgercursor: z.string(),
    ledgeractor: z.string().optional().describe('who caused it, "type:id"'),
  })
  .describe('CloudEvents 1.0 (structured JSON): one revocation-class fact about one key');

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

const FEED_UNAVAILABLE = {
  code: 'feed_unavailable',
  detail: 'The revocation feed is not following the ledger right now; retry later.',
} as const;

/**
 * A feed still replaying the log at start-up, or one that stopped following it, is refused outright: serving it
 * would let clients trust a partial or stale set.
 */
function demandHealthyFeed(feed: RevocationFeed): void {
  if (!feed.ok)
    throw new HttpError(503, FEED_UNAVAILABLE.code, FEED_UNAVAILABLE.detail, {
      type: 'server_error',
      headers: { 'Retry-After': '5' },
    });
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
  if (c === null)
    throw new HttpError(400, 'invalid_cursor', 'The cursor is not a ledger position.', {
      attr,
      type: 'validation_error',
    });
  return c;
}

/** Whether the credential a stream was opened with still holds (a revoked key must not keep listening). */
function stillAuthorized(ledger: Ledger, caller: Caller): boolean {
  const now = ledger.now();
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

const CREDENTIAL_ENDED = {
  code: 'invalid_token',
  detail: 'The credential this stream was opened with is no longer valid.',
} as const;

export function revocationRoutes(ledger: Ledger, feed: RevocationFeed, opts: FeedRouteOptions): RouteDef[] {
  let openStreams = 0;
  opts.metrics?.gauge('ledger_revocation_streams', 'Open revocation SSE streams', () => openStreams);
  return [
    route({
      method: 'GET',
      path: '/v1/revocations',
      summary: 'Revocation feed, paged: revocation-class events (one per affected key) after a cursor',
      tag: 'verification',
      auth: 'required',
      urlToken: true,
      query: {
        after: z
          .string()
          .regex(CURSOR_PATTERN)
          .describe('cursor (ledger position) of the last item already applied; omit to start at the beginning'),
        limit: z
          .string()
          .regex(/^[0-9]{1,4}$/)
          .describe('page size, 1–1000 (default 100)'),
      },
      responses: {
        200: {
          description: 'a page of CloudEvents; poll again with after=nextCursor',
          schema: z.object({ items: z.array(cloudEventSchema), nextCursor: z.string(), hasMore: z.boolean() }),
        },
        503: { description: 'feed_unavailable: the feed is still replaying the log or stopped following it' },
      },
      handler: ({ ctx, query, caller }) => {
        const visible = feedFilter(ledger, caller);
        demandHealthyFeed(feed);
        const limit = query.limit === undefined ? 100 : Number(query.limit);
        if (!(limit >= 1 && limit <= 1000))
          throw new HttpError(400, 'invalid', 'limit must be between 1 and 1000.', {
            attr: 'limit',
            type: 'validation_error',
          });
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
        after: z
          .string()
          .regex(CURSOR_PATTERN)
          .describe('start after this cursor (Last-Event-ID wins when both are sent)'),
      },
      responses: {
        200: {
          description:
            'text/event-stream of CloudEvents (data: JSON); comment lines are heartbeats; an `error` event ends the stream',
          contentType: 'text/event-stream',
        },
        503: { description: 'feed_unavailable: the feed is still replaying the log or stopped following it' },
      },
      handler: ({ ctx, query, caller }) => {
        feedFilter(ledger, caller);
        demandHealthyFeed(feed);
        const lastEventId = ctx.get('last-event-id');
        let cursor = lastEventId !== '' ? cursorParam(lastEventId, 'Last-Event-ID') : cursorParam(query.after, 'after');

        const stream = openEventStream(ctx, opts.streams, {
          retryMs: opts.retryMs,
          heartbeatMs: opts.heartbeatMs,
          hello: `connected position=${feed.position}`,
          heartbeat: () =>
            failedFeed() || credentialEnded()
              ? null
              : `heartbeat ${new Date().toISOString()} position=${feed.position}`,
        });
        let wake: (() => void) | null = null;
        const unsubscribe = feed.onChange(() => wake?.());
        // A revoked credential ends its stream within a second: on the fact itself, or on the next re-check.
        const recheck = setInterval(() => credentialEnded(), RECHECK_MS);
        recheck.unref();
        const stopWatchingFacts = ledger.read.onApplied((e) => {
          if (CREDENTIAL_EVENTS.has(e.type)) credentialEnded();
        });
        openStreams++;
        stream.whenClosed(() => {
          openStreams--;
          clearInterval(recheck);
          stopWatchingFacts();
          unsubscribe();
          wake?.();
        });

        /** A credential that no longer holds ends the stream with an `error` event naming why. */
        function credentialEnded(): boolean {
          if (stream.closed || stillAuthorized(ledger, caller)) return false;
          stream.fail(CREDENTIAL_ENDED);
          return true;
        }

        /** A failed feed ends the stream with an `error` event and sends no more heartbeats: clients fail closed. */
        function failedFeed(): boolean {
          if (feed.failure === null) return false;
          stream.fail(FEED_UNAVAILABLE);
          return true;
        }

        const pump = async (): Promise<void> => {
          let caughtUp = false;
          while (!stream.closed) {
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
              if (!caughtUp) stream.comment(`caught-up position=${feed.position}`);
              caughtUp = true;
              await new Promise<void>((resolve) => (wake = resolve));
              wake = null;
              continue;
            }
            for (const it of page.items) {
              if (stream.closed) return;
              const ok = stream.send({ id: it.cursor, data: it.json });
              cursor = { position: it.position, index: it.index };
              if (!ok) await stream.drained();
            }
          }
        };
        pump().catch(() => stream.close());
        return undefined;
      },
    }),
  ];
}
