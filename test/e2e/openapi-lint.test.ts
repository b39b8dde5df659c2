// Redocly's linter, recommended rules (redocly.yaml), passes on the document with 0 errors; warnings are known ones.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { fetchDocument } from '../support/api-types.js';
import { tempDir } from '../support/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Warnings left on purpose, by rule, with the reason (also in the README). */
const ACCEPTED_WARNINGS: Record<string, string> = {
  'info-license': 'the project has not chosen a license; the document must not claim one',
};

interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: Array<{ pointer: string }>;
}

describe('e2e: OpenAPI lint (Redocly, recommended rules)', function () {
  this.timeout(120_000);

  it('reports no errors, and only the accepted warnings', async () => {
    const dir = tempDir('lint');
    try {
      const file = join(dir.path, 'openapi.json');
      writeFileSync(file, JSON.stringify(await fetchDocument()));
      const redocly = join(ROOT, 'node_modules', '.bin', 'redocly');
      const run = await promisify(execFile)(
        redocly,
        ['lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format', 'json'],
        {
          cwd: ROOT,
          env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
          maxBuffer: 32 * 1024 * 1024,
        },
      ).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
      const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { problems: Problem[] };
      const summary = report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
      expect(
        report.problems.filter((p) => p.severity === 'error'),
        summary.join('\n'),
      ).to.deep.equal([]);
      const unexpected = report.problems.filter((p) => !Object.hasOwn(ACCEPTED_WARNINGS, p.ruleId));
      expect(unexpected, summary.join('\n')).to.deep.equal([]);
    } finally {
      dir.cleanup();
    }
  });
});
