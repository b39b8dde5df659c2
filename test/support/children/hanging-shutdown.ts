// Child process for the shutdown watchdog: serve's signal handling around a server whose close() never finishes, with
// an interval keeping the event loop alive as a forgotten timer would.
//
//   node hanging-shutdown.js <shutdownTimeoutMs>
//
// Prints "ready" once its handlers are installed; on SIGTERM the watchdog must end it with exit 1.
import { stopOnSignals } from '../../../services/cli/commands/serve.js';
import { createLogger } from '../../../services/logger.js';
import type { RunningServer } from '../../../services/server.js';

const stuck = {
  closingStep: 'stopping the stuck plugin',
  close: () => new Promise<void>(() => undefined),
} as unknown as RunningServer;
stopOnSignals(Promise.resolve(stuck), { shutdownTimeoutMs: Number(process.argv[2] ?? 500) }, createLogger('info'));
setInterval(() => undefined, 1000);
process.stdout.write('ready\n');
