// What every contract case shares: the backends, the label saying which of them guarantee a case, two store instances.
import { randomUUID } from 'node:crypto';
import type { EventStore, NewEvent } from '../../../events/store/types.js';

export type Backend = 'sqlite' | 'postgres' | 'esdb';

const NAMES: Record<Backend, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL', esdb: 'EventStoreDB' };
export const ALL: readonly Backend[] = ['sqlite', 'postgres', 'esdb'];
export const SQL: readonly Backend[] = ['sqlite', 'postgres'];
export const ESDB: readonly Backend[] = ['esdb'];

/** Two instances over one backend, as two processes would use it. */
export interface ContractStores {
  readonly store: EventStore;
  readonly other: EventStore;
  /** Makes the backend forget what it remembers of recent commits (an EventStoreDB restart or leader change). */
  readonly forgetRecentCommits?: () => void;
  dispose(): Promise<void>;
}

export interface Ctx {
  readonly backend: Backend;
  /** The instances of the running case. */
  stores(): ContractStores;
  /** A fresh stream name for the running case (suffixes make more). */
  stream(): string;
}

/** A case that runs only on the backends that guarantee it, labelled with them. */
export function guaranteed(ctx: Ctx, by: readonly Backend[], title: string, fn: () => Promise<void>): void {
  if (!by.includes(ctx.backend)) return;
  it(`[${by.map((b) => NAMES[b]).join(', ')}] ${title}`, fn);
}

export const ev = (type = 'Thing', data: unknown = { n: 1 }): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { m: true },
});
