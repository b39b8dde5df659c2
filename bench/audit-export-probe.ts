// Probe (not a test): export throughput and RSS growth of GET /v1/audit/export over ~1M audit rows.
// `npm run build --silent && node dist/bench/audit-export-probe.js` (PROBE_EVENTS=200000 for a quick run).
// Rows are written straight into audit.db with AuditDb.applyBatch over synthetic events; the export is then streamed
// over HTTP to curl, which discards the bytes, while this process samples its own RSS.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { RecordedEvent } from '../events/store/types.js';
import { AuditDb } from '../services/audit/audit-db.js';
import { auditPlugin, auditDbFile } from '../services/audit/plugin.js';
import { auditExtensions } from '../services/audit/timeline.js';
import { startTestServer } from '../test/support/server.js';
import { tempDir } from '../test/support/tmp.js';

const N = Number(process.env.PROBE_EVENTS ?? 1_000_000);
const FORMATS = (process.env.PROBE_FORMATS ?? 'jsonl,csv').split(',');
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function synthetic(position: number): RecordedEvent {
  const k = position % 5000;
  const occurredAt = new Date(T0 + position * 1000).toISOString();
  const metadata = {
    eventId: randomUUID(),
    occurredAt,
    actor: { type: 'key', id: `key_${k.toString(36).padStart(8, '0')}` },
    request: { ip: '10.0.0.7', userAgent: 'probe/1.0 (+https://example.test)', requestId: `req_${position.toString(36)}` },
    correlationId: `req_${position.toString(36)}`,
    schemaVersion: 1,
  };
  const keyId = `key_${k.toString(36).padStart(8, '0')}`;
  const data =
    position % 10 === 0
      ? {
          keyId,
          userId: 'usr_probe',
          workspaceId: `ws_${position % 7}`,
          name: `key ${k}`,
          description: null,
          digest: 'ab'.repeat(32),
          start: 'tl_abcd',
          sealed: { iv: 'x', ct: 'y' },
          scopes: null,
          format: 'opaque',
          expiresAt: null,
          rotatedFrom: null,
        }
      : {
          keyId,
          count: 3,
          firstAt: occurredAt,
          lastAt: occurredAt,
          lastIp: '10.0.0.7',
          lastUserAgent: 'probe/1.0',
          presentation: 'bearer',
          workspaceId: `ws_${position % 7}`,
        };
  return {
    id: metadata.eventId,
    streamId: `apikey-${keyId}`,
    revision: position,
    position,
    type: position % 10 === 0 ? 'ApiKeyCreated' : 'ApiKeyUsed',
    data,
    metadata,
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  const dir = tempDir('export-probe');
  try {
    let t = Date.now();
    const db = new AuditDb(auditDbFile(dir.path), auditExtensions);
    const batch: RecordedEvent[] = [];
    for (let p = 1; p <= N; p++) {
      batch.push(synthetic(p));
      if (batch.length === 10_000) db.applyBatch(batch.splice(0));
    }
    db.applyBatch(batch.splice(0));
    db.close();
    console.log(`generated ${N} audit rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const s = await startTestServer({ LOG_LEVEL: 'silent' }, [auditPlugin()], { path: dir.path, cleanup: () => undefined });
    try {
      const token = await s.login();
      for (const format of FORMATS) {
        global.gc?.();
        const base = process.memoryUsage().rss;
        let peak = base;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
        t = Date.now();
        const out = join(dir.path, `headers-${format}.txt`);
        const bytes = await new Promise<number>((resolve, reject) => {
          const curl = spawn('curl', [
            '-sS',
            '-o',
            '/dev/null',
            '-D',
            out,
            '-w',
            '%{size_download}',
            '-H',
            `Authorization: Bearer ${token}`,
            `${s.url}/v1/audit/export?format=${format}`,
          ]);
          let stdout = '';
          curl.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          curl.on('error', reject);
          curl.on('exit', (code) => (code === 0 ? resolve(Number(stdout)) : reject(new Error(`curl exited ${code}`))));
        });
        clearInterval(sampler);
        const secs = (Date.now() - t) / 1000;
        console.log(
          `${format}: ${N} events in ${secs.toFixed(2)} s = ${Math.round(N / secs).toLocaleString('en-US')} events/s, ${mb(bytes)} (${mb(bytes / secs)}/s); ` +
            `RSS ${mb(base)} → peak ${mb(peak)} (growth ${mb(peak - base)})`,
        );
      }
    } finally {
      await s.stop();
    }
  } finally {
    dir.cleanup();
  }
}

await main();
