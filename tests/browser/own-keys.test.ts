/**
 * Browser test of the signatory's own key, in Debian's chromium against a real `zv serve`:
 * the minister signs the queue with the ministry's card key (SoftHSM2, one PIN typed in the page),
 * and a county signatory signs remotely — through the CSC test service's own login pages and back
 * (CSP form-action lets the form lead there). Screenshots go to tests/artifacts/browser/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pino } from 'pino';
import { serve, type Running } from '../../src/http/server.ts';
import { newestLink } from '../../src/demo.ts';
import { generateIntoStore, readAgreementInputs } from '../../src/store/agreements.ts';
import { addTrustAnchor } from '../../src/store/trust.ts';
import { verifyAgreement } from '../../src/sign/verify.ts';
import { fileById, readStoredFile } from '../../src/store/files.ts';
import { issue, testCa } from '../helpers/pki.ts';
import { createToken, generateKey, softhsmConfig, storeCertificate, type Token } from '../helpers/softhsm.ts';
import { startCscServer, type CscTestServer } from '../helpers/csc-server.ts';
import { CONTACTS } from '../helpers/year.ts';
import { ARTIFACTS, CHROMIUM, newContext, submit } from '../helpers/browser.ts';

const root = new URL('../..', import.meta.url).pathname;
const PASSWORD = 'browser-test-passwort';

let running: Running;
let browser: Browser;
let dir: string;
let token: Token;
let csc: CscTestServer;
const problems: string[] = [];

before(async () => {
  assert.ok(CHROMIUM, 'chromium not found');
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'zv-browser-keys-'));
  const softhsm = softhsmConfig(dir);
  token = createToken(softhsm, 'Ministerium');
  const cardCa = await testCa('Ministerium Signaturkarten-CA (Test)');
  storeCertificate(token, { label: 'klose', id: '01', der: (await issue(cardCa, { cn: 'Kai Klose', publicKey: generateKey(token, { label: 'klose', id: '01', type: 'ec' }) })).der });
  csc = await startCscServer({ credentials: [{ id: 'krause-qes', owner: 'krause', cn: 'Markus Krause', pin: '8642' }], users: { krause: 'fulda-geheim' } });
  Object.assign(process.env, softhsm, {
    ZV_KEY_PASSPHRASE: 'browser-test-passphrase',
    ZV_PKCS11_URI: token.uri('klose'),
    ZV_CSC_URL: csc.base,
    ZV_CSC_CLIENT_ID: csc.oauthClient.id,
    ZV_CSC_CLIENT_SECRET: csc.oauthClient.secret,
  });
  running = await serve({ dataDir: dir, port: 0, env: { ZV_ADMIN_PASSWORD: PASSWORD }, print: () => {}, log: pino({ level: 'silent' }), secureCookies: false });
  // The provider sends the browser back to this server.
  process.env.ZV_CSC_REDIRECT_URI = csc.oauthClient.redirectUri = `${running.url}/fernsignatur/rueckkehr`;
  const { ctx } = running;
  await ctx.accounts.create({ username: 'minister', displayName: 'Kai Klose', email: 'minister@hmsi.example', roles: ['ministry'], password: PASSWORD });
  for (const ca of [cardCa, csc.ca]) addTrustAnchor(ctx.svc.store, ca.der, { addedBy: 'test' });
  const inputs = (await readAgreementInputs(join(root, 'examples', 'aqb-2023-hessen.json'))).filter((r) => ['landkreis-fulda', 'vogelsbergkreis', 'odenwaldkreis'].includes(r.partner.id));
  const rows = await generateIntoStore(ctx.svc.store, inputs, 'Sachbearbeitung (Test)');
  await ctx.svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, 'Sachbearbeitung (Test)');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await running?.close();
  await csc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  for (const k of ['ZV_PKCS11_URI', 'ZV_CSC_URL', 'ZV_CSC_CLIENT_ID', 'ZV_CSC_CLIENT_SECRET', 'ZV_CSC_REDIRECT_URI', 'SOFTHSM2_CONF']) delete process.env[k];
});

const newPage = async () => (await newContext(browser, problems)).page;

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

test('the minister signs with the card (one PIN in the page); a county signatory signs remotely at the provider and comes back', async (t) => {
  await t.test('minister: Signaturkarte/HSM with the PIN', async () => {
    const page = await newPage();
    await page.goto(`${running.url}/login`);
    await page.getByLabel('Benutzername').fill('minister');
    await page.getByLabel('Passwort').fill(PASSWORD);
    await submit(page, () => page.getByRole('button', { name: 'Anmelden' }).click());
    await page.goto(`${running.url}/ministerium`);
    await page.getByLabel(/Signaturkarte oder HSM \(PKCS#11\)/).check();
    assert.equal(await page.locator('#f-password').isVisible(), false, 'the password field hides when the card is chosen');
    await page.getByLabel('Alle auswählen').check();
    await page.getByLabel(/^PIN/).fill(token.pin);
    await shot(page, '20-ministerium-signaturkarte');
    await submit(page, () => page.getByRole('button', { name: 'Ausgewählte unterzeichnen' }).click());
    assert.match(await page.locator('main').innerText(), /3 von 3 Vereinbarungen unterzeichnet/);
    await shot(page, '21-ministerium-signaturkarte-ergebnis');
  });

  await t.test('county: Fernsignatur through the provider’s login and release pages', async () => {
    const page = await newPage();
    const link = newestLink(running.ctx.svc, 'markus.krause@landkreis-fulda.example').replace(/^.*\/sign\//, `${running.url}/sign/`);
    await page.goto(link);
    await shot(page, '22-unterzeichnen-wege');
    await page.getByLabel('Ich habe die Vereinbarung gelesen und unterzeichne sie qualifiziert elektronisch.').check();
    await submit(page, () => page.getByRole('button', { name: 'Qualifiziert elektronisch unterschreiben (Fernsignatur)' }).click());
    assert.ok(page.url().startsWith(csc.base), `at the provider: ${page.url()}`);
    await page.getByLabel('Benutzer').fill('krause');
    await page.getByLabel('Passwort').fill('fulda-geheim');
    await submit(page, () => page.getByRole('button', { name: 'Freigeben' }).click());
    // Back at Zielwerk, which prepared the document and sent the browser on to release this hash.
    assert.ok(page.url().startsWith(csc.base), `release at the provider: ${page.url()}`);
    assert.match(await page.locator('body').innerText(), /Freigabe von 1 Signatur\(en\) mit krause-qes/);
    await page.getByLabel('Benutzer').fill('krause');
    await page.getByLabel('Passwort').fill('fulda-geheim');
    await page.getByLabel('PIN').fill('8642');
    await submit(page, () => page.getByRole('button', { name: 'Freigeben' }).click());
    assert.ok(page.url().startsWith(running.url), page.url());
    assert.match(await page.locator('main').innerText(), /Vielen Dank – Sie haben unterzeichnet/);
    await shot(page, '23-fernsignatur-unterzeichnet');
    const snap = running.ctx.svc.listEnvelopes({}).find((s) => s.agreement.partner_id === 'landkreis-fulda')!;
    const pdf = readStoredFile(running.ctx.svc.store.dataDir, fileById(running.ctx.svc.store.db, snap.envelope.current_file_id));
    const report = await verifyAgreement(pdf, { trust: running.ctx.svc.trustAnchors(), requireComplete: true });
    assert.equal(report.verdict, 'valid', JSON.stringify(report.signatures.map((s) => s.problems)));
  });

  assert.deepEqual(problems, [], 'CSP violations or script errors in the browser');
});
