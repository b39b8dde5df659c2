// `npm start`: builds dist/ when a source changed, then runs `token-ledger serve` in this same process, so a start on a
// built tree costs one node start, not two.
import { fileURLToPath } from 'node:url';
import { buildIfStale } from './build-if-stale.mjs';

buildIfStale();
const main = new URL('../dist/services/cli/main.js', import.meta.url);
process.argv.splice(1, process.argv.length - 1, fileURLToPath(main), 'serve', ...process.argv.slice(2));
await import(main.href);
