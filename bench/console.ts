// npm run bench:console — the console's bundle size (gzip) and the time to first render of the keys page in Chromium:
// from navigation start to the keys table visible, median of several runs, against a baseline navigation measured in
// the same run (the service's /docs page to its Swagger UI's first operation).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { CONSOLE_DIR } from '../services/http/console.js';
import { auditPlugin } from '../services/audit/plugin.js';
import { SYSTEM } from '../services/ledger.js';
import { ADMIN_EMAIL, startTestServer } from '../test/support/server.js';
import { chromiumMissing, launchChromium } from '../test/support/browser.js';
import { figure, machine, misses } from './report.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const BUNDLE_TARGET_KB = 60;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function bundle(): { raw: number; gzip: number; files: number } {
  let raw = 0;
  let gzip = 0;
  const files = readdirSync(join(CONSOLE_DIR, 'assets')).map((f) => join(CONSOLE_DIR, 'assets', f));
  for (const f of [...files, join(CONSOLE_DIR, 'index.html')]) {
    const b = readFileSync(f);
    raw += b.length;
    gzip += gzipSync(b, { level: 9 }).length;
  }
  return { raw, gzip, files: files.length + 1 };
}

/** ms from navigation start until `selector` is visible, in a fresh page (no warm cache). */
async function timeTo(page: Page, url: string, selector: string): Promise<number> {
  await page.goto(url, { waitUntil: 'commit' });
  await page.locator(selector).first().waitFor({ state: 'visible' });
  return page.evaluate(() => performance.now());
}

const missing = chromiumMissing();
if (missing !== null) {
  console.log(`bench:console skipped: ${missing}`);
  process.exit(0);
}
console.log(machine());
const b = bundle();
figure(
  'console bundle (gzip, all files)',
  `${(b.gzip / 1024).toFixed(1)} KiB`,
  `< ${BUNDLE_TARGET_KB} KiB`,
  b.gzip < BUNDLE_TARGET_KB * 1024,
  ` raw ${(b.raw / 1024).toFixed(1)} KiB, ${b.files} files`,
);

const s = await startTestServer({}, [auditPlugin()]);
const browser = await launchChromium();
try {
  const ledger = s.running.ledger;
  const admin = ledger.read.userByEmail(ADMIN_EMAIL)!;
  for (let i = 0; i < 50; i++) await ledger.keys.create({ userId: admin.id, name: `bench-${i}` }, SYSTEM);
  const session = await s.request('POST', '/v1/auth/login', {
    body: { email: ADMIN_EMAIL, password: 'correct horse battery staple' },
  });
  const stored = JSON.stringify({ token: session.body.token, expiresAt: session.body.expiresAt });
  const consoleMs: number[] = [];
  const docsMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript(`sessionStorage.setItem('token-ledger.session', ${JSON.stringify(stored)})`);
    const page = await ctx.newPage();
    consoleMs.push(await timeTo(page, `${s.url}/console/keys`, 'table[aria-label="Keys"] tbody tr'));
    await ctx.close();
    const dctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const dpage = await dctx.newPage();
    docsMs.push(await timeTo(dpage, `${s.url}/docs`, '.opblock'));
    await dctx.close();
  }
  const c = median(consoleMs);
  const d = median(docsMs);
  figure(
    'keys page first render (median)',
    `${c.toFixed(0)} ms`,
    '< /docs baseline',
    c < d,
    ` runs ${consoleMs.map((x) => x.toFixed(0)).join(' ')}`,
  );
  figure(
    'baseline: /docs first operation',
    `${d.toFixed(0)} ms`,
    '',
    null,
    ` ratio console/docs ${(c / d).toFixed(2)}`,
  );
} finally {
  await browser.close();
  await s.dispose();
}
process.exit(misses() > 0 ? 1 : 0);
