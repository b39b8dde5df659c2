// pino logger; credentials never reach it (URLs are sanitized, headers are not logged).
import pino, { type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'token-ledger' },
    redact: { paths: ['token', '*.token', 'password', '*.password', 'req.headers.authorization', 'req.headers["api-key"]'], censor: '[REDACTED]' },
  });
}
