// token-ledger subscriber client: revocation watcher (Kafka or HTTP SSE) and offline JWT-key verification.
export * from './protocol.js';
export {
  createRevocationWatcher,
  type RevocationWatcher,
  type RevocationWatcherOptions,
  type WatcherCheck,
  type WatcherSnapshot,
} from './revocation-watcher.js';
export {
  createOfflineVerifier,
  type OfflineVerifier,
  type OfflineVerifierOptions,
  type OfflineResult,
  type OfflineCode,
} from './offline-verifier.js';
export type { KafkaWatchOptions } from './kafka-source.js';
export { readEventStream, SseParser, SseHttpError, type SseEvent } from './sse.js';
export { createLedgerClient, type LedgerApi, type LedgerClientOptions } from './api.js';
export type { components, operations, paths } from './api-schema.js';
