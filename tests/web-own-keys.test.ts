/**
 * The signatory's own key in the web app: the minister signs the queue with a SoftHSM2 key (one
 * PIN for the batch) and with a remote credential; a county signatory signs remotely from the
 * personal link (oauth2code: the test plays the browser through the CSC test service's login
 * pages), or uploads a PDF signed with pdfsig — through the page and through the API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { webFixture, type WebFixture } from './helpers/web.ts';
import { issue, testCa, type TestCa } from './helpers/pki.ts';
import { createToken, generateKey, softhsmConfig, storeCertificate, type Token } from './helpers/softhsm.ts';
import { startCscServer, type CscTestServer } from './helpers/csc-server.ts';
import { tempDir } from './helpers/tools.ts';
import { nssTrusting, pdfsig } from './helpers/validators.ts';
import { CONTACTS } from './helpers/year.ts';
import { newestLink } from '../src/demo.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { addTrustAnchor } from '../src/store/trust.ts';
import { fileById, readStoredFile } from '../src/store/files.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const REDIRECT = 'http://zielwerk.test/fernsignatur/rueckkehr';
const tmp = tempDir('zv-webkeys-');
let fx: WebFixture;
let token: Token;
let csc: CscTestServer;
let ministryCa: TestCa;
let countyCa: TestCa;
let signerNss: string;
const ids: Record<string, number> = {};

before(async () => {
  const softhsm = softhsmConfig(tmp.dir);
  token = createToken(softhsm, 'Ministerium');
  ministryCa = await testCa('Ministerium Signaturkarten-CA (Test)');
  const spki = generateKey(token, { label: 'klose', id: '01', type: 'rsa' });
  storeCertificate(token, { label: 'klose', id: '01', der: (await issue(ministryCa, { cn: 'Kai Klose', publicKey: spki })).der });
  csc = await startCscServer({
    credentials: [
      { id: 'klose-fern', owner: 'signierbuero', cn: 'Kai Klose', pin: '9753' },
      { id: 'krause-qes', owner: 'krause', cn: 'Markus Krause', pin: '8642' },
    ],
    users: { signierbuero: 'buero-geheim', krause: 'fulda-geheim' },
    redirectUri: REDIRECT,
  });
  // The server's settings: the ministry's card key (no PIN: it is typed in the form), the CSC service with service login and OAuth client.
  Object.assign(process.env, softhsm, {
    ZV_PKCS11_URI: token.uri('klose'),
    ZV_CSC_URL: csc.base,
    ZV_CSC_USER: 'signierbuero',
    ZV_CSC_PASSWORD: 'buero-geheim',
    ZV_CSC_CLIENT_ID: csc.oauthClient.id,
    ZV_CSC_CLIENT_SECRET: csc.oauthClient.secret,
    ZV_CSC_REDIRECT_URI: REDIRECT,
  });
  fx = await webFixture();
  for (const ca of [ministryCa, csc.ca]) addTrustAnchor(fx.ctx.svc.store, ca.der, { addedBy: 'test' });
  countyCa = await testCa('Kartenaussteller Vogelsbergkreis (Test)');
  addTrustAnchor(fx.ctx.svc.store, countyCa.der, { addedBy: 'test' });

  const inputs = (await readAgreementInputs(join(ROOT, 'examples', 'aqb-2023-hessen.json'))).filter((r) => ['landkreis-fulda', 'vogelsbergkreis', 'landkreis-kassel', 'werra-meissner-kreis'].includes(r.partner.id));
  const rows = await generateIntoStore(fx.ctx.svc.store, inputs, 'Sachbearbeitung (Test)');
  const snaps = await fx.ctx.svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, 'Sachbearbeitung (Test)');
  for (const s of snaps) ids[s.agreement.partner_id] = s.envelope.id;

  // A county signatory's own key in an NSS database, for pdfsig.
  signerNss = join(tmp.dir, 'nss');
  mkdirSync(signerNss);
  execFileSync('certutil', ['-N', '-d', `sql:${signerNss}`, '--empty-password']);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  writeFileSync(join(tmp.dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(tmp.dir, 'c.pem'), (await issue(countyCa, { cn: 'Susanne Werner', publicKey })).pem);
  execFileSync('openssl', ['pkcs12', '-export', '-inkey', join(tmp.dir, 'k.pem'), '-in', join(tmp.dir, 'c.pem'), '-name', 'werner', '-out', join(tmp.dir, 'g.p12'), '-passout', 'pass:x']);
  execFileSync('pk12util', ['-i', join(tmp.dir, 'g.p12'), '-d', `sql:${signerNss}`, '-W', 'x'], { stdio: 'pipe' });
});
after(async () => {
  fx?.close();
  await csc.close();
  tmp.cleanup();
  for (const k of ['ZV_PKCS11_URI', 'ZV_CSC_URL', 'ZV_CSC_USER', 'ZV_CSC_PASSWORD', 'ZV_CSC_CLIENT_ID', 'ZV_CSC_CLIENT_SECRET', 'ZV_CSC_REDIRECT_URI', 'SOFTHSM2_CONF']) delete process.env[k];
});

const linkPath = (email: string) => new URL(newestLink(fx.ctx.svc, email)).pathname;
const currentPdf = (partner: string) => readStoredFile(fx.ctx.svc.store.dataDir, fileById(fx.ctx.svc.store.db, fx.ctx.svc.snapshot(ids[partner]!).envelope.current_file_id));

describe('the ministry page offers the configured backends', () => {
  test('Key-Store, Signaturkarte (PKCS#11) and Fernsignatur, each with its legal weight; a wrong PIN signs nothing', async () => {
    const { agent, csrf } = await fx.login('ministry');
    const page = await agent.get('/ministerium');
    assert.equal(page.status, 200);
    assert.match(page.text, /Key-Store \(Demo\/Entwicklung\)/);
    assert.match(page.text, /Signaturkarte oder HSM \(PKCS#11\).*Token „Ministerium“, Schlüssel „klose“/s);
    assert.match(page.text, /Fernsignatur \(Vertrauensdiensteanbieter\)/);
    assert.match(page.text, /Einfache elektronische Signatur: Der Schlüssel liegt auf dem Zielwerk-Server/);
    assert.match(page.text, /qualifizierte elektronische Signatur, die die Schriftform ersetzt/);
    const wrong = await agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: csrf, envelopeIds: [ids['landkreis-fulda'], ids['vogelsbergkreis']], place: 'Wiesbaden', date: today(), backend: 'pkcs11', pin: '000000' });
    assert.equal(wrong.status, 422);
    assert.match(wrong.text, /Die PIN für den Token „Ministerium“ ist falsch\. Es wurde nichts unterzeichnet\./);
    assert.equal(fx.ctx.svc.awaitingMinistry({ name: 'Kai Klose' }).length, 4);
  });

  test('the minister signs two agreements with the card (one PIN), and one remotely with PIN over the API', async () => {
    const { agent, csrf } = await fx.login('ministry');
    const res = await agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: csrf, envelopeIds: [ids['landkreis-fulda'], ids['vogelsbergkreis']], place: 'Wiesbaden', date: today(), backend: 'pkcs11', pin: token.pin });
    assert.equal(res.status, 200, res.text.slice(0, 2000));
    assert.match(res.text, /2 von 2 Vereinbarungen unterzeichnet/);
    const api = await agent.post('/api/v1/ministry/sign').set('X-CSRF-Token', csrf).send({ envelopeIds: [ids['landkreis-kassel']], backend: 'csc', credentialID: 'klose-fern', pin: '9753', place: 'Wiesbaden' });
    assert.equal(api.status, 200, JSON.stringify(api.body));
    assert.deepEqual({ signed: api.body.signed, failed: api.body.failed }, { signed: 1, failed: 0 });
    const missingPin = await agent.post('/api/v1/ministry/sign').set('X-CSRF-Token', csrf).send({ envelopeIds: [ids['werra-meissner-kreis']], backend: 'pkcs11' });
    assert.equal(missingPin.status, 422);
    assert.equal(missingPin.body.errors[0].path, 'pin');
    assert.match(missingPin.body.errors[0].message, /ist die PIN nötig/);
    const kinds = fx.ctx.svc.store.db.prepare("SELECT e.id, s.signer_kind FROM signatories s JOIN envelopes e ON e.id = s.envelope_id WHERE s.party = 'ministry' AND s.status = 'signed' ORDER BY e.id").all() as { id: number; signer_kind: string }[];
    assert.deepEqual(Object.fromEntries(kinds.map((k) => [k.id, k.signer_kind])), { [ids['landkreis-fulda']!]: 'pkcs11', [ids['vogelsbergkreis']!]: 'pkcs11', [ids['landkreis-kassel']!]: 'csc' });
    // The Werra-Meißner agreement with the key store, for the link tests below.
    const ks = await agent.post('/ministerium/unterzeichnen').type('form').send({ _csrf: csrf, envelopeIds: [ids['werra-meissner-kreis']], place: 'Wiesbaden', date: today(), backend: 'keystore', password: 'richtig-langes-passwort' });
    assert.match(ks.text, /1 von 1 Vereinbarung unterzeichnet/);
  });
});

describe('a county signatory signs from the link', () => {
  test('the page offers Fernsignatur, upload and the simple signature, each with one sentence on its legal weight', async () => {
    const res = await request(fx.app).get(linkPath('markus.krause@landkreis-fulda.example'));
    assert.equal(res.status, 200);
    assert.match(res.text, /Qualifiziert elektronisch unterschreiben \(Fernsignatur\)/);
    assert.match(res.text, /Mit eigenem Signaturprogramm unterschreiben \(Upload\)/);
    assert.match(res.text, /im vorhandenen Unterschriftsfeld <strong>„sig-partner-1“<\/strong>/);
    assert.match(res.text, /Einfach elektronisch unterschreiben \(Zielwerk-Key-Store\)/);
    const csp = res.headers['content-security-policy'] as string;
    assert.match(csp, new RegExp(`form-action 'self' ${new URL(csc.base).origin.replace(/[.]/g, '\\.')}`), 'forms may lead to the provider’s login');
  });

  test('Fernsignatur: provider login (scope service), then the release of exactly this hash (scope credential), back to Zielwerk; the signature is in the field', async () => {
    const path = linkPath('markus.krause@landkreis-fulda.example');
    const agent = request.agent(fx.app);
    const page = await agent.get(path);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const start = await agent.post(`${path}/fernsignatur`).type('form').send({ _csrf: csrf, place: 'Fulda', date: today(), confirm: 'ja' });
    assert.equal(start.status, 303, start.text.slice(0, 500));
    const toProvider = new URL(start.headers.location as string);
    assert.equal(toProvider.origin + toProvider.pathname, `${csc.base}/oauth2/authorize`);
    assert.equal(toProvider.searchParams.get('scope'), 'service');
    assert.equal(toProvider.searchParams.get('code_challenge_method'), 'S256');

    // At the provider: log in.
    const back1 = await providerLogin(toProvider, { username: 'krause', password: 'fulda-geheim' });
    // The way back works only in the browser that started (a provider URL passed to someone else leads nowhere).
    const elsewhere = await request(fx.app).get(back1.pathname + back1.search);
    assert.equal(elsewhere.status, 400);
    assert.match(elsewhere.text, /in einem anderen Browser begonnen/);
    const step2 = await agent.get(back1.pathname + back1.search);
    assert.equal(step2.status, 303, step2.text.slice(0, 1000));
    const release = new URL(step2.headers.location as string);
    assert.equal(release.searchParams.get('scope'), 'credential');
    assert.equal(release.searchParams.get('credentialID'), 'krause-qes');
    assert.equal(release.searchParams.get('numSignatures'), '1');
    assert.equal(release.searchParams.get('hashes')!.split(',').length, 1);
    assert.equal(fx.ctx.svc.snapshot(ids['landkreis-fulda']!).envelope.status, 'open', 'nothing is stored before the release');

    // At the provider: release this one signature with the PIN.
    const back2 = await providerLogin(release, { username: 'krause', password: 'fulda-geheim', pin: '8642' });
    const done = await agent.get(back2.pathname + back2.search);
    assert.equal(done.status, 200, done.text.slice(0, 1500));
    assert.match(done.text, /Vielen Dank – Sie haben unterzeichnet/);
    assert.equal(fx.ctx.svc.snapshot(ids['landkreis-fulda']!).envelope.status, 'completed');
    const final = join(tmp.dir, 'fulda.pdf');
    writeFileSync(final, currentPdf('landkreis-fulda'));
    const nss = nssTrusting(tmp.dir, [{ nick: 'ministry', pem: ministryCa.pem }, { nick: 'tsp', pem: csc.ca.pem }]);
    assert.deepEqual(pdfsig(final, nss).map((s) => [s.field, s.signer, s.valid, s.trusted]), [['sig-ministry-1', 'Kai Klose', true, true], ['sig-partner-1', 'Markus Krause', true, true]]);
    // A replayed callback finds no flow.
    const replay = await agent.get(back2.pathname + back2.search);
    assert.equal(replay.status, 400);
    assert.match(replay.text, /abgelaufen oder unbekannt/);
  });

  test('Fernsignatur aborted at the provider: back on the signing page with the reason, nothing signed, link usable', async () => {
    const path = linkPath('nicole.rathgeber@werra-meissner-kreis.example');
    const agent = request.agent(fx.app);
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await agent.get(path)).text)![1]!;
    const start = await agent.post(`${path}/fernsignatur`).type('form').send({ _csrf: csrf, place: 'Eschwege', date: today(), confirm: 'ja' });
    const back = await providerLogin(new URL(start.headers.location as string), { username: 'krause', password: 'fulda-geheim', decision: 'deny' });
    const r = await agent.get(back.pathname + back.search);
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, path);
    const again = await agent.get(path);
    assert.equal(again.status, 200);
    assert.match(again.text, /Die Fernsignatur wurde beim Anbieter abgebrochen oder abgelehnt \(„The user denied the request“\)\. Es wurde nichts unterzeichnet/);
    assert.equal(fx.ctx.svc.snapshot(ids['werra-meissner-kreis']!).envelope.status, 'open');
  });

  test('upload on the page: a foreign-field signature is refused with the reason; the API accepts the right one', async () => {
    // The Vogelsbergkreis signatory signs with pdfsig — first the wrong field, then his own.
    const path = linkPath('susanne.werner@vogelsbergkreis.example');
    const agent = request.agent(fx.app);
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await agent.get(path)).text)![1]!;
    const sent = join(tmp.dir, 'vogelsberg.pdf');
    writeFileSync(sent, currentPdf('vogelsbergkreis'));
    const unchanged = await agent.post(`${path}/upload`).field('_csrf', csrf).attach('file', sent);
    assert.equal(unchanged.status, 422);
    assert.match(unchanged.text, /Die Datei wurde nicht angenommen: Die hochgeladene Datei ist das unveränderte Dokument/);
    const png = await agent.post(`${path}/upload`).field('_csrf', csrf).attach('file', Buffer.from('\x89PNG\r\n\x1a\n0000'), 'x.pdf');
    assert.equal(png.status, 415);
    const signed = join(tmp.dir, 'vogelsberg-signed.pdf');
    execFileSync('pdfsig', ['-sign', 'sig-partner-1', '-nssdir', `sql:${signerNss}`, '-nick', 'werner', sent, signed], { stdio: 'pipe' });
    const token = path.split('/').pop()!;
    const api = await request(fx.app).post(`/api/v1/sign/${token}/upload`).attach('file', signed);
    assert.equal(api.status, 200, JSON.stringify(api.body));
    assert.equal(api.body.completed, true);
    assert.equal(api.body.signatory.name, 'Susanne Werner');
    const again = await request(fx.app).post(`/api/v1/sign/${token}/upload`).attach('file', signed);
    assert.equal(again.status, 410, 'the link is spent once the signature is in');
  });
});

function today(): string {
  return new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(new Date());
}

/** Plays the browser at the provider: loads its login page, submits the form, returns where it redirects (Zielwerk's callback). */
async function providerLogin(url: URL, fields: Record<string, string>): Promise<URL> {
  const page = await fetch(url);
  const html = await page.text();
  assert.equal(page.status, 200, html.slice(0, 300));
  const hidden = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')]));
  const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!;
  const res = await fetch(action, { method: 'POST', body: new URLSearchParams({ ...hidden, decision: 'allow', ...fields }), redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(res.status, 302, await res.text());
  const location = new URL(res.headers.get('location')!);
  assert.equal(location.origin + location.pathname, REDIRECT);
  return location;
}

