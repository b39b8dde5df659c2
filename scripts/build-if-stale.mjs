// Builds dist/ only when a source is newer than the last build, so `npm start` on a built tree goes straight to node.
// A stat walk costs milliseconds; even an up-to-date `tsc -b` loads the whole compiler first (about a second).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const config = join(root, 'tsconfig.json');

const SOURCE_DIRS = ['events', 'projections', 'services', 'clients', 'bench', 'test', 'examples', 'console'];
/** Written after every successful build: the TypeScript build info alone misses a console-only change. */
const stamp = join(root, 'dist', '.built');

function newest(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted or renamed file changes its folder's time
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

function stale() {
  const built = statSync(stamp, { throwIfNoEntry: false });
  if (built === undefined) return true;
  const inputs = [config, join(root, 'package-lock.json'), ...SOURCE_DIRS.map((d) => join(root, d))];
  return inputs.some((p) => newest(p) > built.mtimeMs);
}

/** Builds when a source is newer than the last build; a failed build ends the process with the build's exit code. */
export function buildIfStale() {
  // `npm ci` runs this as `prepare`; an install with no sources yet (the Dockerfile's first layer) has nothing to build.
  if (!existsSync(config) || !stale()) return;
  // The package's own build script (server, then the console), through the npm that runs this script.
  const npm = process.env.npm_execpath;
  const r = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(stamp, new Date().toISOString() + '\n');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) buildIfStale();
