// pino logger; credentials never reach it (URLs are rebuilt without secrets, headers are not logged, and these paths are censored as a backstop).
import pino, { type Logger } from 'pino';
import type { LogFn } from './workers/publisher.js';

const REDACT = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["api-key"]',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers["api-key"]',
  'req.headers.cookie',
  'api_token',
  '*.api_token',
];

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'token-ledger' }, redact: { paths: REDACT, censor: '[REDACTED]' } });
}

/** A component's log function (level, message, fields) writing to `logger`. */
export function pinoLog(logger: Logger): LogFn {
  return (level, msg, extra) => logger[level](extra ?? {}, msg);
}
