// Runs every compiled test and ends with the one summary line CI reads: "N passed, N failed".
import Mocha from 'mocha';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../dist/test/', import.meta.url).pathname;
const only = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js') && (only.length === 0 || only.some((o) => p.includes(o)))) files.push(p);
  }
};
walk(root);

const mocha = new Mocha({ reporter: 'spec', timeout: 20000, slow: 500 });
for (const f of files) mocha.addFile(f);
await mocha.loadFilesAsync();
const runner = mocha.run();
runner.on('end', () => {
  const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
  console.log(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`);
  process.exitCode = s.failures > 0 ? 1 : 0;
  // Open handles (brokers, servers) must not keep CI waiting once results are in.
  setTimeout(() => process.exit(process.exitCode), 2000).unref();
});
