// The one contract every EventStore adapter must pass, each case labelled with the backends that guarantee it, and a
// store wrapper tests use to watch or disturb a store.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { makeLedger, seedOwner, type TestLedger } from './ledger.js';
import { appendCases } from './store-contract/appends.js';
import type { Backend, ContractStores, Ctx } from './store-contract/harness.js';
import { idempotencyCases } from './store-contract/idempotency.js';
import { readingCases } from './store-contract/reading.js';
import { tempDir } from './tmp.js';
import type { AppendResult, EventStore, ExpectedRevision, NewEvent, RecordedEvent } from '../../events/store/types.js';

export type { Backend, ContractStores } from './store-contract/harness.js';

type Args<K extends keyof EventStore> = EventStore[K] extends (...a: infer P) => unknown ? P : never;

export type AppendHook = (
  streamId: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision | undefined,
  next: () => Promise<AppendResult>,
) => Promise<AppendResult>;

/** Delegates to a real store; records which streams were read and lets a test intercept appends (`next` appends). */
export class InterceptedStore implements EventStore {
  readonly kind: string;
  readonly streamReads: string[] = [];
  onAppend: AppendHook | null = null;
  constructor(readonly inner: EventStore) {
    this.kind = inner.kind;
  }
  append(streamId: string, events: readonly NewEvent[], expected?: ExpectedRevision): Promise<AppendResult> {
    const next = (): Promise<AppendResult> => this.inner.append(streamId, events, expected);
    return this.onAppend ? this.onAppend(streamId, events, expected, next) : next();
  }
  readStream(streamId: string, opts?: { fromRevision?: number; maxCount?: number }): Promise<RecordedEvent[]> {
    this.streamReads.push(streamId);
    return this.inner.readStream(streamId, opts);
  }
  readAll(...a: Args<'readAll'>): ReturnType<EventStore['readAll']> {
    return this.inner.readAll(...a);
  }
  firstEventAtOrAfter(position: number): Promise<RecordedEvent | null> {
    return this.inner.firstEventAtOrAfter(position);
  }
  subscribeAll(...a: Args<'subscribeAll'>): ReturnType<EventStore['subscribeAll']> {
    return this.inner.subscribeAll(...a);
  }
  headPosition(): Promise<number> {
    return this.inner.headPosition();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A SQLite store at `file`, wrapped for interception. */
export function interceptedSqlite(file: string): InterceptedStore {
  return new InterceptedStore(new SqliteEventStore(file, { pollIntervalMs: 20 }));
}

/** Fails, before writing, the first append of an event of `type` (to `streamId` if given); answers how many it failed. */
export function failFirstAppendOf(store: InterceptedStore, type: string, err: Error, streamId?: string): () => number {
  let failed = 0;
  store.onAppend = (s, events, expected, next) => {
    if (failed > 0 || events[0]?.type !== type || (streamId !== undefined && s !== streamId)) return next();
    failed++;
    return Promise.reject(err);
  };
  return () => failed;
}

/** A test ledger with a seeded owner over an intercepted SQLite store, in its own temporary folder. */
export async function interceptedLedger(label: string): Promise<{
  t: TestLedger;
  store: InterceptedStore;
  owner: { userId: string; workspaceId: string };
  dispose: () => Promise<void>;
}> {
  const dir = tempDir(label);
  const store = interceptedSqlite(join(dir.path, 'ledger.db'));
  const t = await makeLedger({ dir: dir.path, store });
  const owner = await seedOwner(t.ledger);
  return {
    t,
    store,
    owner,
    dispose: async () => {
      await t.dispose();
      dir.cleanup();
    },
  };
}

/**
 * Runs every case `backend` guarantees against two store instances over one backend (made afresh for each case, as
 * two processes would share it). `prefix` starts every stream name the cases write.
 */
export function storeContract(
  backend: Backend,
  make: () => Promise<ContractStores>,
  opts: { readonly prefix?: string } = {},
): void {
  let current: ContractStores | null = null;
  let stream = '';
  beforeEach(async () => {
    current = await make();
    stream = `${opts.prefix ?? 'test-'}${randomUUID()}`;
  });
  afterEach(async () => {
    await current?.dispose();
    current = null;
  });
  const ctx: Ctx = {
    backend,
    stores: () => {
      if (current === null) throw new Error('no stores outside a contract case');
      return current;
    },
    stream: () => stream,
  };
  appendCases(ctx);
  idempotencyCases(ctx);
  readingCases(ctx);
}
