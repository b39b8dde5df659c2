// The SQLite audit writer's live cost: CPU per ApiKeyUsed row once audit.db holds a long history, with the writer
// connection's settings against the driver's defaults (what every connection had before), same run, same file.
import { hash } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedEvent } from '../events/store/types.js';
import { AuditDb } from '../projections/audit/audit-db.js';
import { auditExtensions } from '../projections/audit/timeline.js';
import { uuidV7 } from '../services/ids.js';
import { idOf, prng } from '../test/support/prng.js';
import { figure } from './report.js';

const KEYS = 10_000;
const WORKSPACES = 50;
/** Rows per transaction while live: what a writer woken by each group commit takes at a few thousand events/s. */
const LIVE_BATCH = 2_000;

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Synthetic events in log order: creations of KEYS keys, then uses of random keys (a usage flush's rows). */
class History {
  private position = 0;
  private at = Date.parse('2026-01-01T00:00:00.000Z');
  private readonly revisions = new Map<string, number>();
  readonly keys: string[];

  constructor(private readonly rnd: () => number) {
    this.keys = Array.from({ length: KEYS }, () => idOf(rnd, 'key'));
  }

  private meta(type: string, id: string): unknown {
    const n = this.position;
    return {
      eventId: uuidV7(this.at),
      occurredAt: new Date((this.at += 3)).toISOString(),
      actor: { type, id },
      request: { ip: `10.0.${n % 250}.${n % 199}`, userAgent: 'bench/1.0 (linux)', requestId: `req_${n}` },
      schemaVersion: 1,
    };
  }

  created(i: number): RecordedEvent {
    const key = this.keys[i]!;
    this.revisions.set(key, 0);
    const user = `usr_${i % 500}`;
    return {
      id: uuidV7(this.at),
      streamId: `apikey-${key}`,
      revision: 0,
      position: ++this.position,
      type: 'ApiKeyCreated',
      data: {
        keyId: key,
        userId: user,
        workspaceId: `ws_${i % WORKSPACES}`,
        name: `key ${i}`,
        description: null,
        handle: null,
        alias: null,
        scopes: ['read'],
        format: 'opaque',
        digest: hash('sha256', key, 'hex'),
        start: 'tl_abcd',
        expiresAt: null,
        sealed: null,
        rotatedFrom: null,
      },
      metadata: this.meta('user', user),
    };
  }

  used(): RecordedEvent {
    const key = this.keys[Math.floor(this.rnd() * KEYS)]!;
    const revision = (this.revisions.get(key) ?? 0) + 1;
    this.revisions.set(key, revision);
    const at = new Date(this.at).toISOString();
    return {
      id: uuidV7(this.at),
      streamId: `apikey-${key}`,
      revision,
      position: ++this.position,
      type: 'ApiKeyUsed',
      data: {
        keyId: key,
        count: 3,
        firstAt: at,
        lastAt: at,
        lastIp: '10.1.2.3',
        lastUserAgent: 'curl/8.5.0',
        presentation: 'bearer',
        presentations: { bearer: 3 },
      },
      metadata: this.meta('key', key),
    };
  }
}

/** CPU µs (user + system) per row to apply `batches` to `db`. */
function cpuPerRow(db: AuditDb, batches: readonly (readonly RecordedEvent[])[]): { cpu: number; sys: number } {
  const rows = batches.reduce((n, b) => n + b.length, 0);
  const c0 = process.cpuUsage();
  for (const b of batches) db.applyBatch(b);
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / rows, sys: c.system / rows };
}

export function benchAuditWriterLive(dir: string, historyRows: number, liveRows: number): void {
  const work = join(dir, 'audit-live');
  mkdirSync(work, { recursive: true });
  const history = new History(prng(11));
  const base = join(work, 'base.db');
  const t0 = performance.now();
  const builder = new AuditDb(base, auditExtensions, { writer: true });
  for (let i = 0; i < KEYS; i += 5_000)
    builder.applyBatch(Array.from({ length: Math.min(5_000, KEYS - i) }, (_, j) => history.created(i + j)));
  for (let n = KEYS; n < historyRows; n += 5_000)
    builder.applyBatch(Array.from({ length: Math.min(5_000, historyRows - n) }, () => history.used()));
  builder.db.pragma('wal_checkpoint(TRUNCATE)');
  builder.close();
  const built = (performance.now() - t0) / 1000;
  // The same live rows into two copies of the same file: one opened as the writer, one with the driver's defaults.
  const live = Array.from({ length: Math.ceil(liveRows / LIVE_BATCH) }, () =>
    Array.from({ length: LIVE_BATCH }, () => history.used()),
  );
  const run = (name: string, writer: boolean): { cpu: number; sys: number } => {
    const file = join(work, `${name}.db`);
    copyFileSync(base, file);
    const db = new AuditDb(file, auditExtensions, { writer });
    try {
      return cpuPerRow(db, live);
    } finally {
      db.close();
    }
  };
  // Interleaved, twice each, so a noisy neighbour weighs on both alike.
  const defaults = [run('defaults-1', false)];
  const tuned = [run('writer-1', true)];
  defaults.push(run('defaults-2', false));
  tuned.push(run('writer-2', true));
  const mean = (xs: Array<{ cpu: number; sys: number }>, k: 'cpu' | 'sys'): number =>
    xs.reduce((s, x) => s + x[k], 0) / xs.length;
  console.log(
    `\naudit writer, live — ${int(liveRows)} ApiKeyUsed rows over ${int(KEYS)} keys, in transactions of ${int(LIVE_BATCH)}, on an audit.db of ${int(historyRows)} rows (built in ${built.toFixed(1)} s)`,
  );
  figure(
    'CPU per row, writer connection',
    `${mean(tuned, 'cpu').toFixed(1)} µs`,
    '',
    null,
    `  ×${(mean(tuned, 'cpu') / mean(defaults, 'cpu')).toFixed(2)} of the driver's defaults (${mean(defaults, 'cpu').toFixed(1)} µs; runs ${defaults.map((d) => d.cpu.toFixed(1)).join(', ')} vs ${tuned.map((d) => d.cpu.toFixed(1)).join(', ')}); of which system ${mean(tuned, 'sys').toFixed(1)} vs ${mean(defaults, 'sys').toFixed(1)} µs`,
  );
}
