// The server's Kafka publisher process, started by publisher-process.ts below the server's CPU priority. It opens the
// store for reading, publishes from the stored checkpoint, and reports its status, metrics and log lines to the server.
// It stops on the server's word, or as soon as the server is gone (even by kill -9), so a new lease holder never
// publishes beside an orphan.
import { SqliteEventStore } from '../../events/store/sqlite.js';
import { nicedChildConfig, parentGone } from '../../projections/niced-child.js';
import { Metrics } from '../metrics/registry.js';
import { openStore } from '../open-store.js';
import { createPublisher } from '../revocations/create-publisher.js';
import type { LogFn } from './publisher.js';
import {
  PUBLISHER_CHILD_ENV,
  type FromPublisherChild,
  type PublisherChildConfig,
  type ToPublisherChild,
} from './publisher-process.js';

/** How often it looks for its server, in case the channel's close cannot get in. */
const PARENT_CHECK_MS = 500;
/** How long an orphan may take to stop in order. */
const STOP_GRACE_MS = 5000;

/** Sends a message to the server; resolves once it is handed over (a server that is gone gets nothing). */
function post(m: FromPublisherChild): Promise<void> {
  return new Promise((resolve) => (process.connected ? process.send!(m, undefined, {}, () => resolve()) : resolve()));
}

let stopAsked = false;
let settleStop!: () => void;
/** Resolves when the server says stop, or is gone; the publisher then stops in order. */
const stopped = new Promise<void>((resolve) => (settleStop = resolve));
const stopRequested = (): void => {
  stopAsked = true;
  settleStop();
};
process.on('disconnect', () => stopRequested());
/** Set once the publisher runs: what a wake-up and a metrics request reach. */
let running: { wake: () => void; metrics: (id: number) => void } | null = null;
process.on('message', (m: ToPublisherChild) => {
  if (m === 'stop') stopRequested();
  else if (m === 'wake') running?.wake();
  else if (running === null) void post({ kind: 'metrics', id: m.id, text: '' });
  else running.metrics(m.id);
});
// Set before anything that may wait (opening the store, the broker): an orphan stops even if the close came first.
const watchdog = setInterval(() => {
  if (!parentGone()) return;
  stopRequested();
  // An orphan that cannot stop in order (a store that never answers) still goes.
  setTimeout(() => process.exit(1), STOP_GRACE_MS).unref();
}, PARENT_CHECK_MS);

async function run(cfg: PublisherChildConfig): Promise<void> {
  const log: LogFn = (level, msg, extra) => void post({ kind: 'log', level, msg, ...(extra ? { extra } : {}) });
  const store = await openStore(cfg.config, { readOnly: true });
  try {
    // Only the publisher's own metrics: the server renders them after its own, and the process figures are its.
    const metrics = new Metrics({ processMetrics: false });
    const pub = await createPublisher(store, cfg.config, cfg.settings, log, metrics);
    if (pub === null) throw new TypeError('the publisher process runs only with LEDGER_KAFKA_BROKERS set');
    running = {
      wake: () => store instanceof SqliteEventStore && store.noticeAppend(),
      metrics: (id) =>
        void metrics.render().then(
          (text) => post({ kind: 'metrics', id, text }),
          (err: unknown) => {
            log('warn', 'rendering the publisher metrics failed', { err: String(err) });
            return post({ kind: 'metrics', id, text: '' });
          },
        ),
    };
    const report = setInterval(() => void post({ kind: 'status', status: pub.publisher.status() }), cfg.statusMs);
    // Not started when the server said stop, or was gone, before it got here.
    if (!stopAsked && !parentGone()) pub.publisher.start();
    await stopped;
    clearInterval(report);
    await pub.close();
  } finally {
    clearInterval(watchdog);
    await store.close();
  }
}

const config = nicedChildConfig<PublisherChildConfig>('publisher-child', PUBLISHER_CHILD_ENV);
run(config).then(
  async () => {
    // Handed over after every message before it (one channel, in order): no log line is lost to the exit.
    await post({ kind: 'log', level: 'debug', msg: 'publisher process stopped' });
    process.exit(0);
  },
  async (err: unknown) => {
    await post({ kind: 'failed', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
