/**
 * Browser test of what a signature proves, in Debian's chromium against a real `zv serve`: two AQB
 * agreements signed completely — the Werra-Meißner-Kreis with qualified certificates on both sides
 * (a qualified test trust service, trusted --qualified), the Landkreis Fulda with a simple
 * key-store signature on the county side. The clerk's year page counts "rechtswirksam
 * geschlossen" apart from "unterschrieben"; the agreement page, the archive detail and /pruefen
 * show each signature's level and the written-form verdict; /pruefen names a signature made by
 * the wrong person. Screenshots go to tests/artifacts/browser/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pino } from 'pino';
import { serve, type Running } from '../../src/http/server.ts';
import { newestLink } from '../../src/demo.ts';
import { generateIntoStore, readAgreementInputs } from '../../src/store/agreements.ts';
import { addTrustAnchor } from '../../src/store/trust.ts';
import { fileById, readStoredFile } from '../../src/store/files.ts';
import { identitySigner, type Signer } from '../../src/sign/signer.ts';
import { signAgreement } from '../../src/sign/sign.ts';
import { issue, QC, testCa, type TestCa } from '../helpers/pki.ts';
import { signFieldByHand } from '../helpers/craft.ts';
import { agreementPdf, AQB_EXAMPLE } from '../helpers/signing.ts';
import { CONTACTS } from '../helpers/year.ts';
import { ARTIFACTS, CHROMIUM, newContext, submit } from '../helpers/browser.ts';

const root = new URL('../..', import.meta.url).pathname;
const PASSWORD = 'browser-test-passwort';
const QUALIFIED = { compliance: true, sscd: true, types: [QC.esign] };

let running: Running;
let browser: Browser;
let dir: string;
let qtsp: TestCa;
const ids: Record<string, number> = {};
const problems: string[] = [];

/** A card signer with a qualified certificate for `cn` from the test trust service. */
async function qualifiedSigner(cn: string): Promise<Signer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const cert = await issue(qtsp, { cn, publicKey, qc: QUALIFIED });
  return identitySigner({ certificate: cert.der, chain: [qtsp.der], privateKey, source: 'pkcs12' }, { kind: 'pkcs11', description: `Signaturkarte (Test) für ${cn}` });
}

before(async () => {
  assert.ok(CHROMIUM, 'chromium not found');
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'zv-browser-form-'));
  process.env.ZV_KEY_PASSPHRASE = 'browser-test-passphrase';
  running = await serve({ dataDir: dir, port: 0, env: { ZV_ADMIN_PASSWORD: PASSWORD }, print: () => {}, log: pino({ level: 'silent' }), secureCookies: false });
  const { ctx } = running;
  const svc = ctx.svc;
  await ctx.accounts.create({ username: 'sachbearbeitung', displayName: 'Sachbearbeitung AQB', email: 'aqb@hmsi.example', roles: ['clerk'], password: PASSWORD });
  await ctx.accounts.create({ username: 'archiv', displayName: 'Archiv HMSI', email: 'archiv@hmsi.example', roles: ['archivist'], password: PASSWORD });
  qtsp = await testCa('Qualifizierter Vertrauensdiensteanbieter (Test)');
  addTrustAnchor(svc.store, qtsp.der, { addedBy: 'test', qualified: true });

  const inputs = (await readAgreementInputs(join(root, 'examples', 'aqb-2023-hessen.json'))).filter((r) => ['werra-meissner-kreis', 'landkreis-fulda'].includes(r.partner.id));
  const rows = await generateIntoStore(svc.store, inputs, 'Sachbearbeitung (Test)');
  const snaps = await svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, 'Sachbearbeitung (Test)');
  for (const s of snaps) ids[s.agreement.partner_id] = s.agreement.id;
  const minister = snaps[0]!.signatories.find((x) => x.party === 'ministry')!.name;
  const results = await svc.signAsMinistry(snaps.map((s) => s.envelope.id), { name: minister, signer: await qualifiedSigner(minister) });
  assert.ok(results.every((r) => 'outcome' in r), JSON.stringify(results));
  for (const s of snaps) {
    const partner = s.signatories.find((x) => x.party === 'partner')!;
    const link = newestLink(svc, partner.email!);
    // Werra-Meißner: the Landrätin's qualified card; Fulda: the key store (a simple signature).
    await svc.signWithLink(link, s.agreement.partner_id === 'werra-meissner-kreis' ? { signer: await qualifiedSigner(partner.name) } : {});
  }
  assert.deepEqual(svc.listEnvelopes({}).map((s) => s.envelope.status), ['completed', 'completed']);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await running?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

async function login(username: string): Promise<Page> {
  const { page } = await newContext(browser, problems);
  await page.goto(`${running.url}/login`);
  await page.getByLabel('Benutzername').fill(username);
  await page.getByLabel('Passwort').fill(PASSWORD);
  await submit(page, () => page.getByRole('button', { name: 'Anmelden' }).click());
  return page;
}

function signedPdf(partner: string): Uint8Array {
  const svc = running.ctx.svc;
  const snap = svc.listEnvelopes({}).find((s) => s.agreement.partner_id === partner)!;
  return readStoredFile(svc.store.dataDir, fileById(svc.store.db, snap.envelope.current_file_id));
}

test('level and written form on the year page, the agreement page, the archive detail and /pruefen', async (t) => {
  await t.test('clerk: year page counts "rechtswirksam geschlossen" apart from "unterschrieben"', async () => {
    const page = await login('sachbearbeitung');
    await page.goto(`${running.url}/jahre/2023`);
    const main = await page.locator('main').innerText();
    assert.match(main, /Rechtswirksam geschlossen: 1 von 2 unterzeichneten/);
    const row = (partner: string) => page.locator('tr', { hasText: partner }).first().innerText();
    assert.match(await row('Werra-Meißner-Kreis'), /rechtswirksam/);
    assert.match(await row('Landkreis Fulda'), /Schriftform fehlt/);
    await shot(page, '30-jahr-rechtswirksam');

    await page.goto(`${running.url}/vereinbarungen/${ids['landkreis-fulda']}`);
    const fulda = await page.locator('main').innerText();
    assert.match(fulda, /Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich/);
    assert.match(fulda, /einfache elektronische Signatur/);
    assert.match(fulda, /qualifizierte elektronische Signatur/);
    await shot(page, '31-vereinbarung-schriftform-fehlt');
    await page.goto(`${running.url}/vereinbarungen/${ids['werra-meissner-kreis']}`);
    assert.match(await page.locator('main').innerText(), /Schriftform elektronisch gewahrt \(§ 3a Abs\. 2 VwVfG\)/);
    await shot(page, '32-vereinbarung-schriftform-gewahrt');
  });

  await t.test('archivist: archive detail and /pruefen', async () => {
    const page = await login('archiv');
    await page.goto(`${running.url}/archiv/${ids['werra-meissner-kreis']}`);
    const detail = await page.locator('main').innerText();
    assert.match(detail, /Schriftform elektronisch gewahrt/);
    assert.match(detail, /qualifizierte elektronische Signatur/);
    await shot(page, '33-archiv-schriftform');

    const fulda = join(dir, 'fulda-signiert.pdf');
    writeFileSync(fulda, signedPdf('landkreis-fulda'));
    await page.goto(`${running.url}/pruefen`);
    await page.getByLabel('PDF-Datei').setInputFiles(fulda);
    await submit(page, () => page.getByRole('button', { name: 'Prüfen' }).click());
    const report = await page.locator('main').innerText();
    assert.match(report, /Schriftform nicht gewahrt/);
    assert.match(report, /hat mit einer einfachen elektronischen Signatur unterzeichnet/);
    assert.match(report, /TOTAL_PASSED/);
    await shot(page, '34-pruefen-schriftform-fehlt');

    // A signature by someone else than the field's signatory (made with a tool that does not check).
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const stranger = await issue(qtsp, { cn: 'Andreas Siebert', publicKey, qc: QUALIFIED });
    const draft = await agreementPdf(AQB_EXAMPLE);
    const wrong = await signFieldByHand(draft, { field: 0, certificate: stranger.der, privateKey, chain: [qtsp.der] });
    const wrongFile = join(dir, 'falsche-person.pdf');
    writeFileSync(wrongFile, wrong);
    await page.getByLabel('PDF-Datei').setInputFiles(wrongFile);
    await submit(page, () => page.getByRole('button', { name: 'Prüfen' }).click());
    const mismatch = await page.locator('main').innerText();
    assert.match(mismatch, /unterschrieben von Andreas Siebert statt Kai Klose/);
    assert.match(mismatch, /SIGNATORY_MISMATCH/);
    await shot(page, '35-pruefen-falsche-person');
    // Zielwerk's own signer would not have made it.
    await assert.rejects(signAgreement(draft, { signatory: { party: 'ministry', index: 1 }, signer: identitySigner({ certificate: stranger.der, chain: [qtsp.der], privateKey, source: 'pkcs12' }) }), /the certificate names Andreas Siebert, but this field is for Kai Klose/);
  });

  assert.deepEqual(problems, [], 'CSP violations or script errors in the browser');
});
