// Every setting, from the environment: the core ones and those each plugin declares, validated in one pass before anything is written.
import { createPrivateKey } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseDuration } from './duration.js';
import { assertPrefix } from './crypto/tokens.js';

export const PRESENTATIONS = ['bearer', 'api-key', 'apitoken', 'api-key-header', 'url'] as const;
export type Scheme = (typeof PRESENTATIONS)[number];

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  eventStoreUrl: string | null;
  /** postgres://… : a PostgreSQL store shared by several instances. */
  databaseUrl: string | null;
  /** This instance's name in lease listings (/readyz, /metrics). */
  instanceId: string;
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
  logLevel: LogLevel;
  /** How long SIGTERM waits for in-flight requests before closing their connections. */
  shutdownTimeoutMs: number;
  loginMaxFailuresPerAccount: number;
  loginMaxFailuresPerIp: number;
  loginThrottleWindowSeconds: number;
  /** /readyz turns 503 when the read model stays behind the store's head for longer than this. */
  readyMaxLagMs: number;
  kafkaBrokers: string[] | null;
  kafkaEventsTopic: string;
  kafkaRevocationsTopic: string;
  kafkaClientId: string;
  checkpointEvery: number;
  checkpointSeconds: number;
  /** Events applied past the last read-model snapshot before a worker writes the next one; 0: none. */
  snapshotEvery: number;
  /** The serving process's old generation grows to (1 + this/100) × what a full GC keeps; 0: V8's own heuristic. */
  heapGrowingPercent: number;
  /** Each registered plugin's settings, validated with the rest (read them with pluginSettings). */
  plugins: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

// ---------------------------------------------------------------- settings a plugin declares

/** One environment variable a plugin reads; loadConfig validates it with the core settings, before anything is written. */
export interface Setting<T> {
  readonly env: string;
  /** What it means, as the README says it. */
  readonly description: string;
  /** The default, as the README shows it. */
  readonly shownDefault: string;
  /** The value from the variable (undefined when unset or blank); throws a ConfigError naming the variable. */
  parse(raw: string | undefined): T;
}

export type SettingsSpec = Readonly<Record<string, Setting<unknown>>>;
export type SettingValues<S extends SettingsSpec> = { readonly [K in keyof S]: ReturnType<S[K]['parse']> };

/** Settings filed under a name in Config.plugins: a plugin module is one. */
export interface SettingsOwner {
  readonly name: string;
  readonly settings: SettingsSpec;
}

export function wholeNumberSetting(
  env: string,
  o: { default: number; min: number; max: number; description: string },
): Setting<number> {
  return {
    env,
    description: o.description,
    shownDefault: String(o.default),
    parse: (raw) => (raw === undefined ? o.default : wholeNumberIn(env, raw, o.min, o.max)),
  };
}

/** A whole number that may stay unset (null), leaving the choice to someone else (e.g. the broker). */
export function optionalWholeNumberSetting(
  env: string,
  o: { min: number; max: number; shownDefault: string; description: string },
): Setting<number | null> {
  return {
    env,
    description: o.description,
    shownDefault: o.shownDefault,
    parse: (raw) => (raw === undefined ? null : wholeNumberIn(env, raw, o.min, o.max)),
  };
}

export function textSetting(
  env: string,
  o: { default: string; pattern: RegExp; what: string; description: string },
): Setting<string> {
  return {
    env,
    description: o.description,
    shownDefault: o.default,
    parse: (raw) => {
      if (raw === undefined) return o.default;
      if (!o.pattern.test(raw)) throw new ConfigError(`${env} must be ${o.what}, got "${raw}"`);
      return raw;
    },
  };
}

export function readSettings<S extends SettingsSpec>(spec: S, env: NodeJS.ProcessEnv): SettingValues<S> {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(spec)) {
    const raw = env[setting.env]?.trim();
    out[key] = setting.parse(raw === '' ? undefined : raw);
  }
  return out as SettingValues<S>;
}

/** A plugin's validated settings; their defaults when the configuration was loaded without that plugin (tests). */
export function pluginSettings<S extends SettingsSpec>(
  config: Pick<Config, 'plugins'>,
  owner: { readonly name: string; readonly settings: S },
): SettingValues<S> {
  return (config.plugins[owner.name] as SettingValues<S> | undefined) ?? readSettings(owner.settings, {});
}

function readPluginSettings(env: NodeJS.ProcessEnv, owners: readonly SettingsOwner[]): Config['plugins'] {
  const out: Record<string, Readonly<Record<string, unknown>>> = {};
  const claimed = new Map<string, string>();
  for (const owner of owners) {
    if (Object.hasOwn(out, owner.name)) throw new Error(`two plugins are named "${owner.name}"`);
    for (const s of Object.values(owner.settings)) {
      const other = claimed.get(s.env);
      if (other !== undefined) throw new Error(`${s.env} is declared by both ${other} and ${owner.name}`);
      claimed.set(s.env, owner.name);
    }
    out[owner.name] = readSettings(owner.settings, env);
  }
  return out;
}

function wholeNumberIn(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  return n;
}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  return wholeNumberIn(name, raw, min, max);
}

function duration(env: NodeJS.ProcessEnv, name: string, def: string): number {
  const raw = env[name]?.trim() || def;
  const s = parseDuration(/^\d+$/.test(raw) ? Number(raw) : raw);
  if (s === null) throw new ConfigError(`${name} must be a duration such as 900, 15m, 12h or 30d, got "${raw}"`);
  return s;
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function host(env: NodeJS.ProcessEnv): string {
  const raw = env.HOST?.trim() || '127.0.0.1';
  const h = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(h) === 0 && !HOSTNAME_RE.test(h))
    throw new ConfigError(`HOST must be an IP address or a host name, got "${raw}"`);
  return h;
}

/** The data folder must be (or be creatable as) a writable directory; checked without creating anything. */
function dataDir(env: NodeJS.ProcessEnv): string {
  const raw = env.LEDGER_DATA_DIR?.trim() || './data';
  if (raw.includes('\0')) throw new ConfigError('LEDGER_DATA_DIR must not contain a NUL character');
  const dir = resolve(raw);
  let probe = dir;
  for (;;) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(probe, { throwIfNoEntry: false });
    } catch (err) {
      throw new ConfigError(
        `LEDGER_DATA_DIR: cannot use "${raw}" (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
    if (st !== undefined) {
      if (!st.isDirectory())
        throw new ConfigError(`LEDGER_DATA_DIR: ${probe} is not a directory (LEDGER_DATA_DIR="${raw}")`);
      try {
        accessSync(probe, constants.W_OK | constants.X_OK);
      } catch {
        throw new ConfigError(`LEDGER_DATA_DIR: ${probe} is not writable (LEDGER_DATA_DIR="${raw}")`);
      }
      return dir;
    }
    const up = dirname(probe);
    if (up === probe) throw new ConfigError(`LEDGER_DATA_DIR: no existing parent folder for "${raw}"`);
    probe = up;
  }
}

function logLevel(env: NodeJS.ProcessEnv): LogLevel {
  const raw = env.LOG_LEVEL?.trim().toLowerCase() || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw))
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  return raw as LogLevel;
}

function masterKey(env: NodeJS.ProcessEnv): string | null {
  const raw = env.LEDGER_MASTER_KEY?.trim() || null;
  if (raw !== null && (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw) || Buffer.from(raw, 'base64').length !== 32)) {
    throw new ConfigError('LEDGER_MASTER_KEY must be 32 bytes, base64-encoded');
  }
  return raw;
}

function signingKey(env: NodeJS.ProcessEnv): string | null {
  const pem = env.LEDGER_SIGNING_KEY?.trim() || null;
  if (pem === null) return null;
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch {
    throw new ConfigError('LEDGER_SIGNING_KEY must be a PEM-encoded private key');
  }
  if (type !== 'ed25519')
    throw new ConfigError(`LEDGER_SIGNING_KEY must be an Ed25519 key, got ${type ?? 'an unknown type'}`);
  return pem;
}

function kafkaBrokers(env: NodeJS.ProcessEnv): string[] | null {
  const list = (env.LEDGER_KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  for (const b of list) {
    const m = /^(.+):(\d{1,5})$/.exec(b);
    const h = m?.[1]?.replace(/^\[(.*)\]$/, '$1') ?? '';
    if (!m || Number(m[2]) > 65535 || (isIP(h) === 0 && !HOSTNAME_RE.test(h)))
      throw new ConfigError(`LEDGER_KAFKA_BROKERS: "${b}" is not host:port`);
  }
  return list.length > 0 ? list : null;
}

function topic(env: NodeJS.ProcessEnv, name: string, def: string): string {
  const t = env[name]?.trim() || def;
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(t))
    throw new ConfigError(`${name} must be 1-249 letters, digits, ".", "_" or "-", got "${t}"`);
  return t;
}

function authSchemes(env: NodeJS.ProcessEnv): Set<Scheme> {
  const schemesRaw = (env.LEDGER_AUTH_SCHEMES ?? 'all').trim().toLowerCase();
  const schemes = new Set<Scheme>();
  if (schemesRaw === 'all' || schemesRaw === '') PRESENTATIONS.forEach((s) => schemes.add(s));
  else {
    for (const part of schemesRaw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (!(PRESENTATIONS as readonly string[]).includes(part)) {
        throw new ConfigError(
          `LEDGER_AUTH_SCHEMES: unknown scheme "${part}"; use "all" or a comma list of ${PRESENTATIONS.join(', ')}`,
        );
      }
      schemes.add(part as Scheme);
    }
  }
  return schemes;
}

/** A connection string as a log or error may show it: never its password. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

function instanceId(env: NodeJS.ProcessEnv): string {
  const raw = env.LEDGER_INSTANCE_ID?.trim();
  if (raw === undefined || raw === '') return `${hostname().slice(0, 40)}-${process.pid}`;
  if (!INSTANCE_ID.test(raw))
    throw new ConfigError(`LEDGER_INSTANCE_ID must be 1-64 letters, digits, '.', '_', ':' or '-', got "${raw}"`);
  return raw;
}

/**
 * LEDGER_EVENTSTORE_URL as the EventStoreDB 6.x client takes it: `kurrentdb://` (KurrentDB's name for the same
 * connection string) becomes `esdb://`, which that client requires; any other scheme is refused.
 */
export function eventStoreUrl(raw: string | null): string | null {
  if (raw === null) return null;
  const m = /^(esdb|kurrentdb)(\+discover)?(:\/\/.*)$/s.exec(raw);
  if (!m)
    throw new ConfigError(
      `LEDGER_EVENTSTORE_URL must start with esdb:// or kurrentdb:// (or their +discover forms), got "${redactUrl(raw)}"`,
    );
  return `esdb${m[2] ?? ''}${m[3]!}`;
}

/** Every setting, the core ones and those of `plugins`, validated in one pass; nothing is written. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, plugins: readonly SettingsOwner[] = []): Config {
  const schemes = authSchemes(env);
  const url = eventStoreUrl(env.LEDGER_EVENTSTORE_URL?.trim() || null);
  const databaseUrl = env.LEDGER_DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new ConfigError(
      `LEDGER_DATABASE_URL must start with postgres:// (or postgresql://), got "${redactUrl(databaseUrl)}"`,
    );
  if (databaseUrl !== null && url !== null)
    throw new ConfigError('LEDGER_DATABASE_URL and LEDGER_EVENTSTORE_URL select two stores: set one of them');
  const master = masterKey(env);
  // Instances sharing a store must seal and open with the same key: it cannot be generated per instance.
  if ((databaseUrl !== null || url !== null) && master === null)
    throw new ConfigError(
      'LEDGER_MASTER_KEY is required with a shared store (LEDGER_DATABASE_URL or LEDGER_EVENTSTORE_URL)',
    );
  const prefix = env.LEDGER_TOKEN_PREFIX ?? 'tl';
  try {
    assertPrefix(prefix);
  } catch {
    throw new ConfigError(
      `LEDGER_TOKEN_PREFIX must be 1-16 lowercase letters/digits starting with a letter, got "${prefix}"`,
    );
  }
  const email = env.LEDGER_BOOTSTRAP_ADMIN_EMAIL?.trim() || null;
  const password = env.LEDGER_BOOTSTRAP_ADMIN_PASSWORD || null;
  if ((email === null) !== (password === null)) {
    throw new ConfigError('LEDGER_BOOTSTRAP_ADMIN_EMAIL and LEDGER_BOOTSTRAP_ADMIN_PASSWORD must be set together');
  }
  if (password !== null && password.length < 12)
    throw new ConfigError('LEDGER_BOOTSTRAP_ADMIN_PASSWORD must be at least 12 characters');
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: host(env),
    dataDir: dataDir(env),
    eventStoreUrl: url,
    databaseUrl,
    instanceId: instanceId(env),
    bootstrapAdminEmail: email,
    bootstrapAdminPassword: password,
    sessionTtlSeconds: duration(env, 'LEDGER_SESSION_TTL', '15m'),
    authSchemes: schemes,
    tokenPrefix: prefix,
    masterKey: master,
    signingKeyPem: signingKey(env),
    jwtIssuer: env.LEDGER_JWT_ISSUER?.trim() || 'token-ledger',
    jwtAudience: env.LEDGER_JWT_AUDIENCE?.trim() || 'token-ledger-api',
    usageFlushMs: int(env, 'LEDGER_USAGE_FLUSH_MS', 10_000, 10, 3_600_000),
    maxGraceSeconds: duration(env, 'LEDGER_MAX_GRACE', '30d'),
    logLevel: logLevel(env),
    shutdownTimeoutMs: int(env, 'LEDGER_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    loginMaxFailuresPerAccount: int(env, 'LEDGER_LOGIN_MAX_FAILURES', 5, 1, 1000),
    loginMaxFailuresPerIp: int(env, 'LEDGER_LOGIN_MAX_FAILURES_PER_IP', 50, 1, 1_000_000),
    loginThrottleWindowSeconds: duration(env, 'LEDGER_LOGIN_THROTTLE_WINDOW', '15m'),
    readyMaxLagMs: int(env, 'LEDGER_READY_MAX_LAG_MS', 5000, 10, 3_600_000),
    kafkaBrokers: kafkaBrokers(env),
    kafkaEventsTopic: topic(env, 'LEDGER_KAFKA_EVENTS_TOPIC', 'token-ledger.events'),
    kafkaRevocationsTopic: topic(env, 'LEDGER_KAFKA_REVOCATIONS_TOPIC', 'token-ledger.revocations'),
    kafkaClientId: env.LEDGER_KAFKA_CLIENT_ID?.trim() || 'token-ledger',
    checkpointEvery: int(env, 'LEDGER_CHECKPOINT_EVERY', 1000, 1, 10_000_000),
    checkpointSeconds: int(env, 'LEDGER_CHECKPOINT_SECONDS', 60, 1, 86_400),
    snapshotEvery: int(env, 'LEDGER_SNAPSHOT_EVERY', 50_000, 0, 1_000_000_000),
    heapGrowingPercent: int(env, 'LEDGER_HEAP_GROWING_PERCENT', 50, 0, 1000),
    plugins: readPluginSettings(env, plugins),
  };
}
