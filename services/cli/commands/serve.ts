// serve: run the HTTP service until SIGTERM or SIGINT, then shut down; the process always ends within
// LEDGER_SHUTDOWN_TIMEOUT_MS plus SHUTDOWN_MARGIN_MS, whatever is still open.
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { exitProcess, LOG_DRAIN_MS } from '../../exit.js';
import { applyHeapGrowing } from '../../heap-tuning.js';
import type { RunningServer } from '../../server.js';
import { parseCommand } from '../args.js';
import type { Command } from '../command.js';

/** What stopping the plugins, flushing usage and closing the store may take after requests are drained. */
export const SHUTDOWN_MARGIN_MS = 1000;

/**
 * On the first signal: close the server (once it is up), then exit 0, or 1 if closing failed. A watchdog, set when the
 * signal arrives, exits 1 at the deadline with a warning naming the step that hung and what is still open; a second
 * signal exits at once.
 */
export function stopOnSignals(
  starting: Promise<RunningServer>,
  config: Pick<Config, 'shutdownTimeoutMs'>,
  logger: Logger,
): void {
  let running: RunningServer | null = null;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      exitProcess(logger, 1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadlineMs = config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS - LOG_DRAIN_MS;
    // Not unref'd: it is the guarantee that the process ends.
    const watchdog = setTimeout(() => {
      const step = running === null ? 'starting' : (running.closingStep ?? 'not started');
      logger.warn(
        { step, open: process.getActiveResourcesInfo(), deadlineMs },
        `shutdown overran its deadline while ${step}; exiting anyway`,
      );
      exitProcess(logger, 1);
    }, deadlineMs);
    starting
      .then((r) => {
        running = r;
        return r.close();
      })
      .then(
        () => {
          clearTimeout(watchdog);
          exitProcess(logger, 0);
        },
        (err: unknown) => {
          clearTimeout(watchdog);
          logger.error({ err }, 'shutdown failed');
          exitProcess(logger, 1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export const serveCommand: Command = {
  name: 'serve',
  args: '',
  summary: 'run the HTTP service (same as npm start); SIGTERM or SIGINT stops it',
  parse(argv) {
    parseCommand(this.name, argv, {});
    return async ({ config, modules }) => {
      // Loaded here: the other commands start faster without the HTTP stack.
      const [{ createLogger }, { startServer }] = await Promise.all([
        import('../../logger.js'),
        import('../../server.js'),
      ]);
      const logger = createLogger(config.logLevel);
      applyHeapGrowing(config.heapGrowingPercent);
      const starting = startServer(
        config,
        logger,
        modules.map((m) => m.create),
      );
      // Handlers first: a signal during start-up still shuts down cleanly once the server is up.
      stopOnSignals(starting, config, logger);
      const running = await starting;
      process.stdout.write(`token-ledger listening on ${running.url} (store: ${running.ledger.store.kind})\n`);
      // Runs until a signal ends the process.
      return new Promise<number>(() => undefined);
    };
  },
};
