// The web console in a real browser (Debian's Chromium via playwright-core), against a real server with the audit and
// revocation plugins: sign in, a key's whole life, the leaked-token search, a verified export, tenant isolation,
// sign-out, an ended session, the CSP, and an axe-core check with a screenshot of every page.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { auditPlugin } from '../../services/audit/plugin.js';
import { revocationsPlugin } from '../../services/revocations/plugin.js';
import { SYSTEM } from '../../services/ledger.js';
import { CONSOLE_CSP, CONSOLE_DIR } from '../../services/http/console.js';
import { existsSync } from 'node:fs';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../support/server.js';
import {
  chromiumMissing,
  freshScreenshots,
  launchChromium,
  screenshot,
  seriousViolations,
} from '../support/browser.js';

const PASSWORD = 'another long passphrase';

describe('web console (Chromium)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  const sent: string[] = [];
  const cspViolations: string[] = [];
  let token = '';
  let keyId = '';
  let foreignKeyId = '';

  async function open(ctxPage: Page, path: string): Promise<void> {
    await ctxPage.goto(`${s.url}/console${path}`);
  }

  async function signIn(p: Page, email: string, password: string): Promise<void> {
    await open(p, '/keys');
    await p.getByLabel('Email').fill(email);
    await p.getByLabel('Password').fill(password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'Keys' }).waitFor();
  }

  /** Every page passes axe (no serious or critical violation) and leaves a screenshot. */
  async function check(p: Page, name: string): Promise<void> {
    await screenshot(p, name);
    const v = await seriousViolations(p);
    expect(
      v.map((x) => `${x.id}: ${x.help} ${JSON.stringify(x.nodes.map((n) => n.target))}`),
      name,
    ).to.deep.equal([]);
  }

  function watch(p: Page): void {
    p.setDefaultTimeout(10_000);
    p.on('request', (r: Request) => sent.push(`${r.url()} ${r.postData() ?? ''}`));
    p.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  }

  before(async function () {
    const missing = chromiumMissing();
    if (missing !== null) {
      console.warn(`    skipped: ${missing}`);
      this.skip();
    }
    if (!existsSync(`${CONSOLE_DIR}index.html`)) throw new Error('the console is not built: run `npm run build`');
    freshScreenshots();
    s = await startTestServer({}, [auditPlugin(), revocationsPlugin({ heartbeatMs: 200, retryMs: 100 })]);
    // Another tenant: its owner, workspace and a key the admin's member must never see.
    const ledger = s.running.ledger;
    const other = await ledger.users.register(
      { email: 'other@example.com', name: 'Other', password: PASSWORD },
      SYSTEM,
    );
    const ws = await ledger.workspaces.create('Other tenant', other.id, SYSTEM);
    foreignKeyId = (await ledger.keys.create({ userId: other.id, workspaceId: ws.id, name: 'foreign-key' }, SYSTEM)).key
      .id;
    browser = await launchChromium();
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    watch(page);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page)
      await screenshot(page, `failed-${this.currentTest.title.slice(0, 40)}`);
  });

  after(async () => {
    await browser?.close();
    await s?.dispose();
  });

  it('serves the console with a strict Content-Security-Policy and no inline script', async () => {
    const r = await s.request('GET', '/console/keys');
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-security-policy')).to.equal(CONSOLE_CSP);
    expect(CONSOLE_CSP).to.include("default-src 'self'");
    expect(r.text).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(r.text).to.not.match(/<style|\sstyle=/);
    const missing = await s.request('GET', '/console/assets/nope.js');
    expect(missing.status).to.equal(404);
    expect(missing.body.errors[0].code).to.equal('not_found');
  });

  it('signs in with e-mail and password', async () => {
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.getByRole('navigation').getByRole('link', { name: 'Keys' }).waitFor();
    for (const name of ['Audit', 'Who could access', 'Revocations', 'Workspaces', 'Users'])
      expect(await page.getByRole('link', { name, exact: true }).count(), name).to.equal(1);
    // The session is in this tab only: no cookie, nothing in localStorage.
    expect(await ctx.cookies()).to.deep.equal([]);
    expect(await page.evaluate('localStorage.length')).to.equal(0);
  });

  it('creates a key and shows its token once, in a read-only field with Copy', async () => {
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('ci-deploy');
    await dialog.getByLabel('Description').fill('Deploys from CI');
    await dialog.getByLabel('Expires in').fill('30d');
    await dialog.getByLabel('Handle').fill('ci-deploy');
    await dialog.getByLabel('Scopes').selectOption(['keys:read', 'keys:verify']);
    await dialog.getByRole('button', { name: 'Create', exact: true }).click();
    const field = page.getByRole('dialog').getByLabel('Token');
    await field.waitFor();
    token = await field.inputValue();
    expect(token.length).to.be.greaterThan(30);
    expect(await field.getAttribute('readonly')).to.not.equal(null);
    expect(await page.getByRole('dialog').getByRole('button', { name: 'Copy' }).count()).to.equal(1);
    await check(page, 'create-key-token');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    expect(await page.content()).to.not.include(token);
    const row = page.getByRole('row', { name: /ci-deploy/ });
    await row.getByText('active').waitFor();
    // Filters: by status and by workspace.
    await page.getByLabel('Status').selectOption('revoked');
    await page.getByText('No keys here yet').waitFor();
    await page.getByLabel('Status').selectOption('');
    await row.waitFor();
    const keys = await s.request('GET', '/v1/keys', { token: await s.login() });
    keyId = keys.body.items.find((k: { name: string }) => k.name === 'ci-deploy').id;
    await check(page, 'keys');
  });

  it('the token works against the API', async () => {
    const me = await s.request('GET', '/v1/auth/me', { token });
    expect(me.status).to.equal(200);
    expect(me.body.credential.kind).to.equal('api_key');
    expect(me.body.scopes).to.have.members(['keys:read', 'keys:verify']);
  });

  it('revokes the key in the console, with a reason and a confirmation, and the API refuses it', async () => {
    const row = page.getByRole('row', { name: /ci-deploy/ });
    await row.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill('leaked in a CI log');
    const revoke = dialog.getByRole('button', { name: 'Revoke' });
    expect(await revoke.isDisabled()).to.equal(true);
    await dialog.getByLabel('I understand this cannot be undone').check();
    await check(page, 'revoke-dialog');
    await revoke.click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await row.getByText('revoked').waitFor();
    const me = await s.request('GET', '/v1/auth/me', { token });
    expect(me.status).to.equal(401);
    expect(me.body.errors[0].code).to.equal('invalid_token');
  });

  it("shows Created, Used and Revoked in the key's history, with a usage chart and an as-of view", async () => {
    await page.getByRole('link', { name: 'ci-deploy' }).click();
    await page.getByRole('heading', { name: 'History' }).waitFor();
    const timeline = page.getByRole('list', { name: 'Key history' });
    await timeline.waitFor();
    const text = await timeline.innerText();
    for (const what of ['Created', 'Used', 'Revoked']) expect(text).to.include(what);
    expect(text).to.include('leaked in a CI log');
    await page.getByRole('figure', { name: /Usage chart/ }).waitFor();
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText(/named “ci-deploy”, would (not )?have verified/).waitFor();
    await check(page, 'key-detail');
  });

  it('finds the key by pasting the token into the audit search, hashing it in the page', async () => {
    await page.getByRole('link', { name: 'Audit', exact: true }).click();
    await page.getByLabel('Token').fill(token);
    for (const label of ['Key', 'User', 'Type', 'From', 'To'])
      expect(await page.getByLabel(label, { exact: true }).count(), label).to.equal(1);
    await page.getByRole('button', { name: 'Search' }).click();
    const results = page.getByRole('table', { name: 'Audit events' });
    await results.waitFor();
    expect(await results.innerText()).to.include('ApiKeyCreated');
    expect(await results.innerText()).to.include(keyId);
    // The token itself never left the page: no request carried it.
    expect(sent.filter((r) => r.includes(token))).to.deep.equal([]);
    await check(page, 'audit');
  });

  it('exports the audit trail and shows the signed manifest verified against the JWKS', async () => {
    await page.getByLabel('Token').fill('');
    await page.getByRole('button', { name: 'Export' }).click();
    const verdict = page.getByText(/Manifest verified/);
    await verdict.waitFor();
    await page.getByLabel('Format').selectOption('csv');
    await page.getByRole('button', { name: 'Export' }).click();
    await page.getByRole('link', { name: /audit-export-\d+\.csv/ }).waitFor();
    expect(await page.getByText(/Manifest verified/).count()).to.equal(1);
    await check(page, 'audit-export');
  });

  it('answers who could access a workspace at an instant, and follows the revocation feed live', async () => {
    await page.getByRole('link', { name: 'Who could access' }).click();
    await page.getByRole('button', { name: 'Show keys' }).click();
    await page.getByText(/would have verified at/).waitFor();
    await check(page, 'who-could-access');
    await page.getByRole('link', { name: 'Revocations' }).click();
    await page.getByText('● Live: newest first.').waitFor();
    await page.getByRole('table', { name: 'Revocation feed' }).getByText(keyId).waitFor();
    await check(page, 'revocations');
  });

  it('shows workspaces with members, invitations and policy, and users with the admin actions', async () => {
    await page.getByRole('link', { name: 'Workspaces' }).click();
    await page.getByRole('heading', { name: /Members of/ }).waitFor();
    await page.getByLabel('Invite by email').fill('new@example.com');
    await page.getByRole('button', { name: 'Invite' }).click();
    await page.getByRole('table', { name: 'Invitations' }).getByText('new@example.com').waitFor();
    await check(page, 'workspaces');
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('button', { name: 'Deactivate other@example.com' }).click();
    await page.getByRole('button', { name: 'Reactivate other@example.com' }).click();
    await page.getByRole('button', { name: 'Deactivate other@example.com' }).waitFor();
    await page.getByRole('button', { name: 'Lift lockout of other@example.com' }).click();
    await page.getByText('Lockout lifted: other@example.com').waitFor();
    await check(page, 'users');
  });

  it('rotates a key with a grace period, shows the new token once and links predecessor and successor', async () => {
    const admin = await s.login();
    await s.request('POST', '/v1/keys', { token: admin, body: { name: 'rotating' } });
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await page
      .getByRole('row', { name: /rotating/ })
      .getByRole('button', { name: 'Rotate' })
      .click();
    await page.getByRole('dialog').getByLabel('Grace period').fill('1h');
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    const fresh = await page.getByRole('dialog').getByLabel('Token').inputValue();
    expect((await s.request('GET', '/v1/auth/me', { token: fresh })).status).to.equal(200);
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.getByText('rotation grace').waitFor();
    await page
      .getByRole('row', { name: /rotation grace/ })
      .getByRole('link', { name: 'rotating' })
      .click();
    await page.getByRole('heading', { name: 'History' }).waitFor();
    const history = page.getByRole('list', { name: 'Key history' });
    await history.getByText('Rotated').waitFor();
    await page.getByText('Rotated to').waitFor();
    await history.getByRole('link', { name: /^key_/ }).first().click();
    await page.getByText('Rotated from').waitFor();
  });

  it('is readable at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Keys', exact: true }).click();
    await page.getByRole('table', { name: 'Keys' }).waitFor();
    await check(page, 'keys-phone');
    expect(await page.evaluate('document.body.scrollWidth <= innerWidth + 1')).to.equal(true);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('signs out, ending the session on the server', async () => {
    const session = await page.evaluate<string | null>("sessionStorage.getItem('token-ledger.session')");
    const jwt = (JSON.parse(session!) as { token: string }).token;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You have signed out.').waitFor();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate('sessionStorage.length')).to.equal(0);
    const r = await s.request('GET', '/v1/auth/me', { token: jwt });
    expect(r.status).to.equal(401);
    await check(page, 'sign-in');
    // An ended session (here: logged out elsewhere) brings the console back to sign-in, saying so.
    await page.evaluate(`sessionStorage.setItem('token-ledger.session', ${JSON.stringify(session)})`);
    await page.reload();
    await page.getByText('Your session has expired. Sign in again to continue.').waitFor();
  });

  it('a member sees nothing of another workspace', async () => {
    const ledger = s.running.ledger;
    const wsId = ledger.read.membershipsOf(ledger.read.userByEmail(ADMIN_EMAIL)!.id).keys().next().value!;
    await ledger.users.register(
      { email: 'member@example.com', name: 'Member', password: PASSWORD, workspaceId: wsId, role: 'member' },
      SYSTEM,
    );
    await ledger.keys.revoke(foreignKeyId, 'other tenant', SYSTEM);
    const mctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const m = await mctx.newPage();
    watch(m);
    try {
      await signIn(m, 'member@example.com', PASSWORD);
      await m.getByText('No keys here yet').waitFor();
      await m.getByRole('link', { name: 'Workspaces' }).click();
      await m.getByRole('heading', { name: /Members of/ }).waitFor();
      const options = await m.getByLabel('Workspace', { exact: true }).innerText();
      expect(options).to.not.include('Other tenant');
      await m.getByRole('link', { name: 'Audit', exact: true }).click();
      await m.getByLabel('Key', { exact: true }).fill(foreignKeyId);
      await m.getByRole('button', { name: 'Search' }).click();
      await m.getByRole('alert').waitFor();
      expect(await m.getByRole('table', { name: 'Audit events' }).count()).to.equal(0);
      await m.getByRole('link', { name: 'Revocations' }).click();
      await m.getByText('● Live: newest first.').waitFor();
      // Its own workspace's revocation is there; the other tenant's is not.
      await m.getByRole('table', { name: 'Revocation feed' }).getByText(keyId).waitFor();
      expect(await m.getByRole('table', { name: 'Revocation feed' }).innerText()).to.not.include(foreignKeyId);
      await m.getByRole('link', { name: 'Users' }).click();
      await m.getByRole('heading', { name: 'Users' }).waitFor();
      await m.waitForFunction("!document.body.innerText.includes('Loading users')");
      const body = await m.locator('main').innerText();
      expect(body).to.not.include('other@example.com');
      expect(body).to.not.include(foreignKeyId);
    } finally {
      await mctx.close();
    }
  });

  it('met no Content-Security-Policy violation on any page', () => {
    expect(cspViolations).to.deep.equal([]);
  });
});
