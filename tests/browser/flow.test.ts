/**
 * Browser tests: Debian's chromium driven by playwright-core against a real `zv serve` (in this
 * process, on a free port, fresh data directory). One year's flow as people do it:
 * admin creates the accounts → clerk stores the e-mail addresses, uploads the 2023 sheet (XLSX),
 * generates and opens the envelopes → the minister batch-signs with the password → one county
 * draws a signature and signs → another county signs with the keyboard only → the archivist finds
 * the agreement, downloads the signed PDF and verifies it on the "Prüfen" page.
 * Every page is screenshotted to tests/artifacts/browser/, checked for unlabeled form fields and
 * for CSP violations or script errors.
 * Run: npm run test:browser (needs chromium: apt-get install chromium; ZV_CHROMIUM overrides the path).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pino } from 'pino';
import { serve, type Running } from '../../src/http/server.ts';
import { parseEml } from '../../src/envelope/notify.ts';
import { absolutePath } from '../../src/store/files.ts';
import { verifyAgreement } from '../../src/sign/verify.ts';
import { trustAnchorsOf } from '../../src/archive/archive.ts';
import { ARTIFACTS, CHROMIUM, newContext as freshContext, submit } from '../helpers/browser.ts';

const root = new URL('../..', import.meta.url).pathname;
const PASSWORD = 'browser-test-passwort';

let running: Running;
let browser: Browser;
let dir: string;
const problems: string[] = [];

before(async () => {
  assert.ok(CHROMIUM, 'chromium not found: install it (apt-get install chromium) or set ZV_CHROMIUM');
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'zv-browser-'));
  process.env.ZV_KEY_PASSPHRASE = 'browser-test-passphrase';
  running = await serve({ dataDir: dir, port: 0, env: { ZV_ADMIN_PASSWORD: PASSWORD }, print: () => {}, log: pino({ level: 'silent' }), secureCookies: false });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await running?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh browser profile with CSP/script error tracking. */
const newContext = () => freshContext(browser, problems);

/** Screenshot plus the accessibility checks every page must pass. */
async function snap(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const unlabeled = await page.evaluate(() =>
    Array.from(document.querySelectorAll('input, select, textarea'))
      .filter((el) => {
        const input = el as HTMLInputElement;
        if (['hidden', 'submit', 'button', 'reset'].includes(input.type) || input.getAttribute('aria-hidden') === 'true') return false;
        const byFor = input.id && document.querySelector(`label[for="${CSS.escape(input.id)}"]`);
        return !(byFor || input.closest('label') || input.getAttribute('aria-label') || input.getAttribute('aria-labelledby'));
      })
      .map((el) => `${el.tagName.toLowerCase()}[name=${(el as HTMLInputElement).name}]`),
  );
  assert.deepEqual(unlabeled, [], `${name}: form fields without a label`);
  const inline = await page.evaluate(() => ({
    scripts: Array.from(document.querySelectorAll('script:not([src])')).length,
    styles: Array.from(document.querySelectorAll('[style]')).filter((e) => !e.closest('.swagger-ui')).length,
  }));
  assert.equal(inline.scripts, 0, `${name}: inline script`);
}

async function login(page: Page, username: string, password = PASSWORD) {
  await page.goto(`${running.url}/login`);
  await page.getByLabel('Benutzername').fill(username);
  await page.getByLabel('Passwort').fill(password);
  await submit(page, () => page.getByRole('button', { name: 'Anmelden' }).click());
  assert.ok(!page.url().includes('/login'), `login as ${username} failed: ${await page.locator('main').innerText()}`);
}

async function logout(page: Page) {
  await page.getByRole('button', { name: 'Abmelden' }).click();
  await page.waitForURL(/\/login/);
}

/** The newest personal link mailed to this address (read from the outbox like a mail client). */
function linkFor(email: string): string {
  const row = running.ctx.svc.store.db
    .prepare("SELECT f.path FROM notifications n JOIN files f ON f.id = n.eml_file_id WHERE n.recipient LIKE ? AND n.kind IN ('invite','turn') ORDER BY n.id DESC LIMIT 1")
    .get(`%<${email}>`) as { path: string } | undefined;
  assert.ok(row, `no mail with a link for ${email}`);
  const link = parseEml(readFileSync(absolutePath(dir, row.path))).link;
  assert.ok(link);
  return link.replace(/^.*\/sign\//, `${running.url}/sign/`);
}

const contacts = JSON.parse(readFileSync(join(root, 'examples', 'aqb-2023-kontakte.json'), 'utf8')) as { signatories: { party: string; name: string; email: string }[] };
const emailOf = (party: string) => contacts.signatories.find((c) => c.party === party)!.email;

test('a year in the browser: accounts, upload, envelopes, batch signing, county signing (mouse and keyboard), archive and verification', async (t) => {
  const { context, page } = await newContext();

  await t.test('admin creates the accounts', async () => {
    await login(page, 'admin');
    await page.goto(`${running.url}/verwaltung`);
    for (const u of [
      { username: 'sachbearbeitung', name: 'Sachbearbeitung AQB', email: 'aqb@hmsi.example', role: 'Sachbearbeitung' },
      { username: 'minister', name: 'Kai Klose', email: 'minister@hmsi.example', role: 'Unterzeichnung Ministerium' },
      { username: 'archiv', name: 'Archiv HMSI', email: 'archiv@hmsi.example', role: 'Archiv' },
    ]) {
      await page.goto(`${running.url}/verwaltung`);
      const form = page.locator('form[action="/verwaltung/benutzer"]');
      await form.getByLabel('Benutzername').fill(u.username);
      await form.getByLabel(/Anzeigename|Name/).first().fill(u.name);
      await form.getByLabel('E-Mail').fill(u.email);
      await form.getByLabel(u.role, { exact: true }).check();
      await form.getByLabel(/passwort/i).first().fill(PASSWORD);
      await submit(page, () => form.getByRole('button').last().click());
      assert.match(await page.locator('main').innerText(), new RegExp(u.username));
    }
    await snap(page, '01-verwaltung');
    await logout(page);
  });

  await t.test('clerk stores the addresses, uploads the 2023 sheet and opens the envelopes', async () => {
    await login(page, 'sachbearbeitung');
    await page.goto(`${running.url}/kontakte`);
    await page.locator('input[type=file]').setInputFiles(join(root, 'examples', 'aqb-2023-kontakte.json'));
    await submit(page, () => page.getByRole('button', { name: 'Übernehmen' }).click());
    await snap(page, '02-kontakte');

    await page.goto(`${running.url}/import`);
    await snap(page, '03-import');
    await page.getByLabel(/Datei|Tabelle/).first().setInputFiles(join(root, 'examples', 'aqb-2023-hessen.xlsx'));
    await submit(page, () => page.getByRole('button', { name: 'Hochladen' }).click());
    const imported = await page.locator('main').innerText();
    assert.match(imported, /26/, imported.slice(0, 500));
    await snap(page, '04-import-ergebnis');

    await page.goto(`${running.url}/jahre/2023`);
    const boxes = page.locator('input[type=checkbox][name=agreementIds]');
    const values = await boxes.evaluateAll((els) => els.map((e) => `${(e as HTMLInputElement).value}:${e.getAttribute('aria-label')}`));
    assert.equal(values.length, 26, values.join('\n'));
    await snap(page, '05-jahresuebersicht');
    for (const box of await boxes.all()) await box.check();
    await submit(page, () => page.getByRole('button', { name: 'Umschläge öffnen' }).click());
    assert.match(await page.locator('main').innerText(), /26/);
    await snap(page, '06-umschlaege-geoeffnet');

    await page.goto(`${running.url}/jahre/2023`);
    assert.equal(await page.locator('table.dashboard .badge.in_signing').count(), 26);
    await logout(page);
  });

  await t.test('the minister signs all 26 at once after re-entering the password', async () => {
    await login(page, 'minister');
    await page.goto(`${running.url}/ministerium`);
    const rows = page.locator('input[type=checkbox][name=envelopeIds]');
    assert.equal(await rows.count(), 26);
    await snap(page, '07-ministerium');
    for (const r of await rows.all()) await r.check();
    await page.getByLabel(/Passwort/).fill(PASSWORD);
    await submit(page, () => page.getByRole('button', { name: 'Ausgewählte unterzeichnen' }).click());
    const result = await page.locator('main').innerText();
    assert.match(result, /26/);
    await snap(page, '08-ministerium-unterzeichnet');
    await logout(page);
  });

  await context.close();

  await t.test('a county draws its signature on the canvas and signs', async () => {
    const { context: county, page: p } = await newContext();
    await p.goto(linkFor(emailOf('werra-meissner-kreis')));
    await snap(p, '09-unterzeichnen');
    assert.equal(await p.getByLabel('Ort').inputValue(), 'Eschwege');
    const pad = p.locator('canvas.sigpad');
    await pad.scrollIntoViewIfNeeded();
    const box = (await pad.boundingBox())!;
    await p.mouse.move(box.x + 30, box.y + box.height * 0.7);
    await p.mouse.down();
    for (let i = 1; i <= 20; i++) await p.mouse.move(box.x + 30 + i * 15, box.y + box.height * (0.7 - 0.4 * Math.sin(i / 3)));
    await p.mouse.up();
    assert.match(await p.locator('#f-drawn').inputValue(), /^data:image\/png;base64,/);
    await p.getByLabel(/Ich habe die Vereinbarung gelesen/).check();
    await submit(p, () => p.getByRole('button', { name: 'Einfach elektronisch unterzeichnen', exact: true }).click());
    assert.match(await p.locator('main').innerText(), /Vielen Dank/);
    await snap(p, '10-unterzeichnet');
    const pdf = await (await p.request.get(p.url().replace(/(\/sign\/[^/?#]+).*$/, '$1/dokument.pdf'))).body();
    const report = await verifyAgreement(new Uint8Array(pdf), { trust: trustAnchorsOf(running.ctx.svc), requireComplete: true });
    assert.equal(report.verdict, 'valid');
    assert.equal(report.signatures.length, 2);
    await county.close();
  });

  await t.test('keyboard only: a county signs without touching the mouse', async () => {
    const { context: county, page: p } = await newContext();
    await p.goto(linkFor(emailOf('landkreis-fulda')));
    const focusId = () => p.evaluate(() => (document.activeElement as HTMLElement | null)?.id || (document.activeElement as HTMLElement | null)?.textContent?.trim() || '');
    const tabTo = async (want: (id: string) => boolean, what: string) => {
      for (let i = 0; i < 90; i++) {
        await p.keyboard.press('Tab');
        if (want(await focusId())) return;
      }
      assert.fail(`Tab never reached ${what}`);
    };
    await tabTo((id) => id === 'f-place', 'the place field');
    await p.keyboard.press('Control+A');
    await p.keyboard.type('Fulda');
    await tabTo((id) => id === 'f-confirm', 'the confirmation checkbox');
    await p.keyboard.press('Space');
    await tabTo((id) => id === 'Einfach elektronisch unterzeichnen', 'the sign button');
    await snap(p, '11-tastatur-fokus');
    await submit(p, () => p.keyboard.press('Enter'));
    assert.match(await p.locator('main').innerText(), /Vielen Dank/);
    await county.close();
  });

  await t.test('the archivist finds the agreement, downloads the signed PDF and verifies it', async () => {
    const { context: arch, page: p } = await newContext();
    await login(p, 'archiv');
    await p.goto(`${running.url}/archiv`);
    await p.getByLabel(/Partner/).first().fill('Werra');
    await submit(p, () => p.getByRole('button', { name: /Suchen/ }).click());
    assert.match(await p.locator('main').innerText(), /Werra-Meißner-Kreis/);
    await snap(p, '12-archiv-suche');
    await submit(p, () => p.getByRole('link', { name: /Werra-Meißner-Kreis/ }).first().click());
    await snap(p, '13-archiv-detail');
    const [download] = await Promise.all([p.waitForEvent('download'), p.locator('a[href$="/signiert.pdf"]').first().click()]);
    const saved = join(ARTIFACTS, 'werra-meissner-kreis-signiert.pdf');
    await download.saveAs(saved);
    assert.equal(readFileSync(saved).subarray(0, 5).toString(), '%PDF-');

    await p.goto(`${running.url}/pruefen`);
    await p.locator('input[type=file]').setInputFiles(saved);
    await submit(p, () => p.getByRole('button', { name: /Prüfen/ }).click());
    const text = await p.locator('main').innerText();
    assert.match(text, /gültig/);
    assert.doesNotMatch(text, /ungültig/);
    await snap(p, '14-pruefen');
    await arch.close();
  });

  await t.test('API documentation renders', async () => {
    const { context: c, page: p } = await newContext();
    await p.goto(`${running.url}/api/docs`);
    await p.waitForSelector('.swagger-ui .opblock', { timeout: 15_000 });
    await p.screenshot({ path: join(ARTIFACTS, '15-api-docs.png') });
    await c.close();
  });

  assert.deepEqual(problems, [], 'CSP violations or script errors in the browser');
});
