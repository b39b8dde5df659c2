#!/usr/bin/env node
// Example subscriber: a service that accepts or refuses the ledger's JWT-format keys with no call to the ledger.
// It keeps a revocation watcher (HTTP SSE feed, or the Kafka revocations topic) and checks each key's signature
// against the ledger's JWKS; a stale watcher refuses every key (fail closed).
//
//   LEDGER_URL=http://127.0.0.1:8080 LEDGER_TOKEN=<key with keys:verify> node dist/examples/revocation-subscriber.js < keys.txt
//   LEDGER_URL=http://127.0.0.1:8080 LEDGER_KAFKA_BROKERS=127.0.0.1:19092 node dist/examples/revocation-subscriber.js <jwt>...
//
// Keys come one per line on stdin, or as arguments (arguments show up in the process list: prefer stdin).
// Each decision is one JSON line on stdout; the key itself is never printed. Status goes to stderr.
import { createInterface } from 'node:readline';
import { createOfflineVerifier, createRevocationWatcher, type RevocationWatcher } from '../clients/index.js';

function env(name: string): string | undefined {
  const v = process.env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function positive(name: string, fallback: number): number {
  const raw = env(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new TypeError(`${name} must be a positive whole number of milliseconds, got "${raw}"`);
  return n;
}

function status(msg: string, extra: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ status: msg, ...extra })}\n`);
}

async function* keysFromInput(args: string[]): AsyncGenerator<string> {
  if (args.length > 0) {
    yield* args;
    return;
  }
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const key = line.trim();
    if (key !== '' && !key.startsWith('#')) yield key;
  }
}

async function main(): Promise<number> {
  const url = env('LEDGER_URL');
  if (url === undefined)
    throw new TypeError(
      'LEDGER_URL is required (the JWKS is read from it, and the SSE feed unless LEDGER_KAFKA_BROKERS is set)',
    );
  const brokers = env('LEDGER_KAFKA_BROKERS')
    ?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const token = env('LEDGER_TOKEN');
  if (brokers === undefined && token === undefined)
    throw new TypeError('set LEDGER_TOKEN (an API key with keys:verify) for the SSE feed, or LEDGER_KAFKA_BROKERS');
  const staleAfterMs = positive('LEDGER_STALE_AFTER_MS', 30_000);
  const readyTimeoutMs = positive('LEDGER_READY_TIMEOUT_MS', 30_000);

  const watcher: RevocationWatcher =
    brokers !== undefined
      ? createRevocationWatcher({
          kafka: { brokers, topic: env('LEDGER_KAFKA_REVOCATIONS_TOPIC') ?? 'token-ledger.revocations' },
          staleAfterMs,
        })
      : createRevocationWatcher({
          url,
          token: token!,
          staleAfterMs,
          onError: (err) => status('feed error', { err: String(err) }),
        });
  const verifier = createOfflineVerifier({
    jwksUrl: `${url.replace(/\/+$/, '')}/.well-known/jwks.json`,
    issuer: env('LEDGER_JWT_ISSUER') ?? 'token-ledger',
    audience: env('LEDGER_JWT_AUDIENCE') ?? 'token-ledger-api',
    watcher,
  });
  try {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      watcher.ready.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), readyTimeoutMs))),
    ]);
    clearTimeout(timer);
    const c = watcher.check();
    // Not ready in time: keep going; every decision will be a refusal (STALE) until the feed is back.
    status(timedOut ? 'watcher not ready: refusing every key' : 'watching', {
      via: brokers !== undefined ? 'kafka' : 'sse',
      fresh: c.fresh,
      revoked: c.revoked,
      suspended: c.suspended,
    });
    for await (const key of keysFromInput(process.argv.slice(2))) {
      const r = await verifier.verify(key);
      const line = {
        decision: r.valid ? 'accept' : 'refuse',
        code: r.code,
        keyId: r.keyId,
        userId: r.userId,
        workspaceId: r.workspaceId,
        scopes: r.scopes,
        expiresAt: r.expiresAt?.toISOString() ?? null,
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    return 0;
  } finally {
    await watcher.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
