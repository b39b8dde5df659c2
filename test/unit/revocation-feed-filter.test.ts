// Tenant-scoped feed pages: a caller sees only the items of workspaces it may see, follows nextCursor without gaps or
// repeats, learns exactly whether more exists, and no call looks at more than FEED_SCAN_BUDGET items.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { NewEvent } from '../../events/store/types.js';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { formatCursor, parseCursor, type Cursor, type RevocationEvent } from '../../clients/protocol.js';
import {
  FEED_SCAN_BUDGET,
  pageOf,
  RevocationFeed,
  type FeedItem,
  type FeedVisibility,
} from '../../projections/revocations/feed.js';
import { waitUntil } from '../support/async.js';
import { tempDir } from '../support/tmp.js';
import { keyCreatedData } from '../support/events.js';

let n = 0;
function event(type: string, data: Record<string, unknown>): NewEvent {
  n += 1;
  const metadata = {
    eventId: randomUUID(),
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, n)).toISOString(),
    schemaVersion: 1,
    correlationId: 'c',
    causationId: null,
    request: {},
    actor: { type: 'system', id: 'system' },
  };
  return { id: randomUUID(), type, data, metadata };
}

const keyCreated = (keyId: string, userId: string, workspaceId: string): NewEvent =>
  event('ApiKeyCreated', keyCreatedData({ keyId, userId, workspaceId }));
const roleSet = (workspaceId: string, userId: string, role: string): NewEvent =>
  event('WorkspaceMemberRoleSet', { workspaceId, userId, role });
const revoked = (keyId: string): NewEvent =>
  event('ApiKeyRevoked', { keyId, reason: 'r', revokedBy: { type: 'system', id: 'system' } });

type Page = ReturnType<RevocationFeed['page']>;

/** Follows nextCursor from the start until hasMore is false; returns every item seen and each page. */
function follow(page: (after: Cursor | null) => Page): { items: FeedItem[]; pages: Page[] } {
  const items: FeedItem[] = [];
  const pages: Page[] = [];
  let after: Cursor | null = null;
  for (let guard = 0; guard < 10_000; guard++) {
    const p = page(after);
    pages.push(p);
    items.push(...p.items);
    after = parseCursor(p.nextCursor);
    expect(after, p.nextCursor).to.not.equal(null);
    if (!p.hasMore) return { items, pages };
  }
  throw new Error('the pages never ended');
}

const onlyIn =
  (...ws: string[]): FeedVisibility =>
  (w) =>
    w !== null && ws.includes(w);

describe('unit: tenant-scoped revocation feed pages', () => {
  let dir: { path: string; cleanup: () => void };
  let store: SqliteEventStore;
  let feed: RevocationFeed;

  beforeEach(async () => {
    dir = tempDir('feed-filter');
    store = new SqliteEventStore(join(dir.path, 'events.db'));
    // Two workspaces; usr_both belongs to both, so deactivating them fans out across A and B at one position.
    await store.append('setup', [
      roleSet('ws_a', 'usr_a', 'owner'),
      roleSet('ws_b', 'usr_b', 'owner'),
      roleSet('ws_a', 'usr_both', 'member'),
      roleSet('ws_b', 'usr_both', 'member'),
      ...['a1', 'a2', 'a3', 'a4'].map((k) => keyCreated(`key_${k}`, 'usr_a', 'ws_a')),
      ...['b1', 'b2', 'b3', 'b4', 'b5'].map((k) => keyCreated(`key_${k}`, 'usr_b', 'ws_b')),
      keyCreated('key_xa', 'usr_both', 'ws_a'),
      keyCreated('key_xb1', 'usr_both', 'ws_b'),
      keyCreated('key_xb2', 'usr_both', 'ws_b'),
      revoked('key_b1'),
      revoked('key_a1'),
      revoked('key_b2'),
      revoked('key_b3'),
      event('UserDeactivated', { userId: 'usr_both', reason: 'left' }),
      revoked('key_a2'),
      revoked('key_b4'),
      revoked('key_unknown'), // never created here: no workspace
      revoked('key_a3'),
      revoked('key_b5'),
    ]);
    feed = new RevocationFeed(store);
    await feed.start();
  });
  afterEach(async () => {
    await feed.stop();
    await store.close();
    dir.cleanup();
  });

  const subjects = (items: readonly FeedItem[]): string[] => items.map((i) => i.event.subject);
  const A = ['key_a1', 'key_xa', 'key_a2', 'key_a3'];
  const B = ['key_b1', 'key_b2', 'key_b3', 'key_xb1', 'key_xb2', 'key_b4', 'key_b5'];

  it('returns only the items whose workspace passes `visible`, and every item without it', () => {
    expect(subjects(feed.page(null, 100, onlyIn('ws_a')).items)).to.deep.equal(A);
    expect(subjects(feed.page(null, 100, onlyIn('ws_b')).items)).to.deep.equal(B);
    expect(subjects(feed.page(null, 100, onlyIn('ws_c')).items)).to.deep.equal([]);
    expect(subjects(feed.page(null, 100, (w) => w === null).items)).to.deep.equal(['key_unknown']);
    const all = feed.page(null, 100);
    expect(all.items).to.have.length(feed.size);
    expect(all.items).to.have.length(A.length + B.length + 1);
    expect(subjects(feed.page(null, 100, () => true).items)).to.deep.equal(subjects(all.items));
  });

  it('lets a client following nextCursor see exactly the visible items, in order, at any page size', () => {
    for (const [visible, expected] of [
      [onlyIn('ws_a'), A],
      [onlyIn('ws_b'), B],
      [onlyIn('ws_a', 'ws_b'), subjects(feed.page(null, 100).items).filter((s) => s !== 'key_unknown')],
    ] as const) {
      for (let limit = 1; limit <= 8; limit++) {
        const { items, pages } = follow((after) => feed.page(after, limit, visible));
        expect(subjects(items), `limit ${limit}`).to.deep.equal(expected);
        expect(new Set(items.map((i) => i.cursor)).size).to.equal(items.length);
        // Cursors only move forward, and every page but possibly the last is full.
        for (const p of pages.slice(0, -1)) expect(p.items).to.have.length(limit);
      }
    }
  });

  it('resumes inside a fan-out: a cursor "P.i" leads to the rest of it, filtered', () => {
    const fan = feed.page(null, 100).items.filter((i) => i.event.data.ledgerEventType === 'UserDeactivated');
    expect(subjects(fan)).to.deep.equal(['key_xa', 'key_xb1', 'key_xb2']);
    const afterFirst = parseCursor(fan[0]!.cursor)!;
    expect(subjects(feed.page(afterFirst, 1, onlyIn('ws_b')).items)).to.deep.equal(['key_xb1']);
    expect(subjects(feed.page(parseCursor(fan[1]!.cursor), 10, onlyIn('ws_a')).items)).to.deep.equal([
      'key_a2',
      'key_a3',
    ]);
  });

  it('says hasMore exactly: false when no visible item follows, even with invisible ones after it', () => {
    const full = feed.page(null, A.length, onlyIn('ws_a'));
    expect(subjects(full.items)).to.deep.equal(A);
    expect(full.hasMore).to.equal(false); // key_b5 follows, but A cannot see it
    const short = feed.page(null, A.length - 1, onlyIn('ws_a'));
    expect(short.hasMore).to.equal(true);
    // The next page from a short one holds the rest; the cursor passes no visible item.
    const rest = feed.page(parseCursor(short.nextCursor), 100, onlyIn('ws_a'));
    expect(subjects(rest.items)).to.deep.equal(['key_a3']);
    expect(rest.hasMore).to.equal(false);
  });

  it('moves the cursor up to the feed position when nothing visible is left, and keeps unfiltered pages as before', async () => {
    const all = feed.page(null, 100).items;
    const last = all[all.length - 1]!;
    const lastA = all.filter((i) => i.event.data.workspaceId === 'ws_a').pop()!;
    const p = feed.page(parseCursor(lastA.cursor), 10, onlyIn('ws_a'));
    expect(p).to.deep.equal({ items: [], nextCursor: String(feed.position), hasMore: false });
    // Unfiltered: nextCursor is the last item's cursor, and an empty page moves up to the feed position.
    const u = feed.page(null, 2);
    expect(u.nextCursor).to.equal(u.items[1]!.cursor);
    expect(u.hasMore).to.equal(true);
    expect(feed.page(parseCursor(last.cursor), 10)).to.deep.equal({
      items: [],
      nextCursor: String(feed.position),
      hasMore: false,
    });
    expect(feed.page({ position: feed.position + 5, index: null }, 10, onlyIn('ws_a')).nextCursor).to.equal(
      String(feed.position + 5),
    );

    // New invisible items do not show, and the cursor still moves past them.
    await store.append('more', [revoked('key_b3')]);
    const head = await store.headPosition();
    await waitUntil(() => feed.position >= head, 5000, 'the feed to reach the head');
    expect(feed.position).to.equal(head);
    expect(feed.page(parseCursor(p.nextCursor), 10, onlyIn('ws_a'))).to.deep.equal({
      items: [],
      nextCursor: String(head),
      hasMore: false,
    });
    expect(subjects(feed.page(parseCursor(p.nextCursor), 10, onlyIn('ws_b')).items)).to.deep.equal(['key_b3']);
  });
});

describe('unit: feed page scan budget', () => {
  /** Synthetic items: one per position, the workspace of each given by `ws`. */
  const itemsOf = (ws: ReadonlyArray<string | null>): FeedItem[] =>
    ws.map((w, i) => ({
      position: i + 1,
      index: 0,
      cursor: String(i + 1),
      event: { subject: `key_${i + 1}`, data: { workspaceId: w } } as unknown as RevocationEvent,
      json: '',
    }));
  const isA: FeedVisibility = (w) => w === 'A';

  it('stops after the budget with what matched, hasMore true and a cursor past everything it looked at', () => {
    const items = itemsOf(['A', ...Array<string>(12).fill('B'), 'A', 'B']);
    const first = pageOf(items, null, 10, 15, isA, 5);
    expect(first.items.map((i) => i.position)).to.deep.equal([1]);
    expect(first).to.include({ nextCursor: '5', hasMore: true });
    const second = pageOf(items, parseCursor(first.nextCursor), 10, 15, isA, 5);
    expect(second).to.deep.include({ items: [], nextCursor: '10', hasMore: true });
    const third = pageOf(items, parseCursor(second.nextCursor), 10, 15, isA, 5);
    expect(third.items.map((i) => i.position)).to.deep.equal([14]);
    // The scan reached the end: hasMore is exact, and the cursor is the last item looked at.
    expect(third).to.include({ nextCursor: '15', hasMore: false });
  });

  it('counts the look-ahead for hasMore against the budget too', () => {
    const items = itemsOf(['A', ...Array<string>(8).fill('B'), 'A']);
    const p = pageOf(items, null, 1, 10, isA, 4);
    expect(p.items.map((i) => i.position)).to.deep.equal([1]);
    expect(p).to.include({ nextCursor: '4', hasMore: true });
    const q = pageOf(items, null, 1, 10, isA, 100);
    expect(q).to.include({ nextCursor: '9', hasMore: true }); // skips the invisible run, stops before the next visible item
    const { items: seen } = follow((after) => pageOf(items, after, 1, 10, isA, 3));
    expect(seen.map((i) => i.position)).to.deep.equal([1, 10]);
  });

  it('ignores the budget when unfiltered, and keeps to limit', () => {
    const items = itemsOf(Array<string>(30).fill('B'));
    const p = pageOf(items, null, 20, 30, undefined, 5);
    expect(p.items).to.have.length(20);
    expect(p).to.include({ nextCursor: '20', hasMore: true });
  });

  it('holds the budget of FEED_SCAN_BUDGET items on a real feed', async function () {
    this.timeout(60_000);
    const dir = tempDir('feed-budget');
    const store = new SqliteEventStore(join(dir.path, 'events.db'));
    const feed = new RevocationFeed(store);
    try {
      await store.append('setup', [roleSet('ws_a', 'usr_a', 'owner'), keyCreated('key_a1', 'usr_a', 'ws_a')]);
      const bulk = Array.from({ length: FEED_SCAN_BUDGET + 10 }, (_, i) => revoked(`key_other_${i}`));
      await store.append('bulk', bulk);
      await store.append('tail', [revoked('key_a1')]);
      await feed.start();
      expect(feed.size).to.equal(FEED_SCAN_BUDGET + 11);
      const first = feed.page(null, 100, onlyIn('ws_a'));
      expect(first.items).to.deep.equal([]);
      expect(first.hasMore).to.equal(true);
      const all = feed.page(null, FEED_SCAN_BUDGET + 20).items;
      expect(first.nextCursor).to.equal(all[FEED_SCAN_BUDGET - 1]!.cursor);
      const second = feed.page(parseCursor(first.nextCursor), 100, onlyIn('ws_a'));
      expect(second.items.map((i) => i.event.subject)).to.deep.equal(['key_a1']);
      expect(second).to.include({
        hasMore: false,
        nextCursor: formatCursor(parseCursor(all[all.length - 1]!.cursor)!),
      });
    } finally {
      await feed.stop();
      await store.close();
      dir.cleanup();
    }
  });
});
