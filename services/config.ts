// Configuration from the environment, validated at start: a bad value stops the start with a clear message.
import { resolve } from 'node:path';
import { parseDuration } from './duration.js';
import { assertPrefix } from './crypto/tokens.js';

export const PRESENTATIONS = ['bearer', 'api-key', 'apitoken', 'api-key-header', 'url'] as const;
export type Scheme = (typeof PRESENTATIONS)[number];

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  eventStoreUrl: string | null;
  bootstrapAdminEmail: string | null;
  bootstrapAdminPassword: string | null;
  sessionTtlSeconds: number;
  authSchemes: ReadonlySet<Scheme>;
  tokenPrefix: string;
  masterKey: string | null;
  signingKeyPem: string | null;
  jwtIssuer: string;
  jwtAudience: string;
  usageFlushMs: number;
  maxGraceSeconds: number;
  logLevel: string;
  kafkaBrokers: string[] | null;
  kafkaEventsTopic: string;
  kafkaRevocationsTopic: string;
  kafkaClientId: string;
  checkpointEvery: number;
  checkpointSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  return n;
}

function duration(env: NodeJS.ProcessEnv, name: string, def: string): number {
  const raw = env[name] ?? def;
  const s = parseDuration(/^\d+$/.test(raw) ? Number(raw) : raw);
  if (s === null) throw new ConfigError(`${name} must be a duration such as 900, 15m, 12h or 30d, got "${raw}"`);
  return s;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const schemesRaw = (env.LEDGER_AUTH_SCHEMES ?? 'all').trim().toLowerCase();
  const schemes = new Set<Scheme>();
  if (schemesRaw === 'all' || schemesRaw === '') PRESENTATIONS.forEach((s) => schemes.add(s));
  else {
    for (const part of schemesRaw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (!(PRESENTATIONS as readonly string[]).includes(part)) {
        throw new ConfigError(`LEDGER_AUTH_SCHEMES: unknown scheme "${part}"; use "all" or a comma list of ${PRESENTATIONS.join(', ')}`);
      }
      schemes.add(part as Scheme);
    }
  }
  const url = env.LEDGER_EVENTSTORE_URL?.trim() || null;
  if (url !== null && !/^(esdb|kurrentdb)(\+discover)?:\/\//.test(url)) {
    throw new ConfigError(`LEDGER_EVENTSTORE_URL must start with esdb:// (or esdb+discover://), got "${url}"`);
  }
  const prefix = env.LEDGER_TOKEN_PREFIX ?? 'tl';
  try {
    assertPrefix(prefix);
  } catch {
    throw new ConfigError(`LEDGER_TOKEN_PREFIX must be 1-16 lowercase letters/digits starting with a letter, got "${prefix}"`);
  }
  const email = env.LEDGER_BOOTSTRAP_ADMIN_EMAIL?.trim() || null;
  const password = env.LEDGER_BOOTSTRAP_ADMIN_PASSWORD || null;
  if ((email === null) !== (password === null)) {
    throw new ConfigError('LEDGER_BOOTSTRAP_ADMIN_EMAIL and LEDGER_BOOTSTRAP_ADMIN_PASSWORD must be set together');
  }
  if (password !== null && password.length < 12) throw new ConfigError('LEDGER_BOOTSTRAP_ADMIN_PASSWORD must be at least 12 characters');
  const brokers = env.LEDGER_KAFKA_BROKERS?.trim();
  const host = env.HOST?.trim() || '127.0.0.1';
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host,
    dataDir: resolve(env.LEDGER_DATA_DIR?.trim() || './data'),
    eventStoreUrl: url,
    bootstrapAdminEmail: email,
    bootstrapAdminPassword: password,
    sessionTtlSeconds: duration(env, 'LEDGER_SESSION_TTL', '15m'),
    authSchemes: schemes,
    tokenPrefix: prefix,
    masterKey: env.LEDGER_MASTER_KEY?.trim() || null,
    signingKeyPem: env.LEDGER_SIGNING_KEY?.trim() || null,
    jwtIssuer: env.LEDGER_JWT_ISSUER?.trim() || 'token-ledger',
    jwtAudience: env.LEDGER_JWT_AUDIENCE?.trim() || 'token-ledger-api',
    usageFlushMs: int(env, 'LEDGER_USAGE_FLUSH_MS', 10_000, 10, 3_600_000),
    maxGraceSeconds: duration(env, 'LEDGER_MAX_GRACE', '30d'),
    logLevel: env.LOG_LEVEL?.trim() || 'info',
    kafkaBrokers: brokers
      ? brokers
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean)
      : null,
    kafkaEventsTopic: env.LEDGER_KAFKA_EVENTS_TOPIC?.trim() || 'token-ledger.events',
    kafkaRevocationsTopic: env.LEDGER_KAFKA_REVOCATIONS_TOPIC?.trim() || 'token-ledger.revocations',
    kafkaClientId: env.LEDGER_KAFKA_CLIENT_ID?.trim() || 'token-ledger',
    checkpointEvery: int(env, 'LEDGER_CHECKPOINT_EVERY', 1000, 1, 10_000_000),
    checkpointSeconds: int(env, 'LEDGER_CHECKPOINT_SECONDS', 60, 1, 86_400),
  };
}
