// Child process for the audit writer's lifetime test: starts the writer process on a log file and waits (forever).
//
//   node audit-follower-parent.js <log file> <audit file>
//
// Prints "ready" once the writer has caught up; the test then kills this process with -9.
import { followInProcess } from '../../../projections/audit/sqlite-follower.js';
import { auditExtensions } from '../../../projections/audit/timeline.js';

const [logFile, auditFile] = process.argv.slice(2);
if (!logFile || !auditFile) {
  process.stderr.write('usage: audit-follower-parent <log file> <audit file>\n');
  process.exit(2);
}
const sub = followInProcess(
  auditFile,
  auditExtensions.map((x) => x.name),
  { file: logFile, watch: () => () => undefined },
  () => undefined,
  (err) => process.stderr.write(`${String(err)}\n`),
);
await sub.caughtUp;
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
