/**
 * The archive area over HTTP: one AQB agreement (Werra-Meißner-Kreis 2023) generated, opened and
 * signed by the minister and the Landrätin through the real services; then search (year, partner,
 * signatory, project), the detail page with hashes, downloads by id (archived bytes, 'downloaded'
 * event), the Signaturprotokoll, the year export, the "Prüfen" page (valid, tampered, non-PDF,
 * foreign PDF, archive match), the API, and who may see what.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { unzipSync } from 'fflate';
import { PDFDocument } from 'pdf-lib';
import { webFixture, type WebFixture } from './helpers/web.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { parseContacts } from '../src/envelope/contacts.ts';
import { parseEml } from '../src/envelope/notify.ts';
import { readEvents } from '../src/envelope/audit.ts';
import { absolutePath, fileById, sha256Hex } from '../src/store/files.ts';
import type { SigningService } from '../src/envelope/service.ts';
import { archivePaperScan } from '../src/archive/paper.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const WERRA = join(ROOT, 'examples', 'aqb-2023-werra-meissner-kreis.json');
const CONTACTS = parseContacts(JSON.parse(readFileSync(join(ROOT, 'examples', 'aqb-2023-kontakte.json'), 'utf8')));

let fx: WebFixture;
let agreementId: number;
let envelopeId: number;
let signedPdf: Uint8Array;
let signedSha: string;

function newestLink(svc: SigningService, email: string): string {
  const row = svc.store.db
    .prepare(
      `SELECT f.path FROM notifications n JOIN files f ON f.id = n.eml_file_id
       WHERE n.recipient LIKE ? AND n.kind IN ('invite','turn') ORDER BY n.id DESC LIMIT 1`,
    )
    .get(`%<${email}>`) as { path: string };
  return parseEml(readFileSync(absolutePath(svc.store.dataDir, row.path))).link!;
}

/** supertest: collect a binary body as a Buffer. */
const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

before(async () => {
  fx = await webFixture();
  const svc = fx.ctx.svc;
  const [a] = await generateIntoStore(svc.store, await readAgreementInputs(WERRA), 'Test');
  agreementId = a!.id;
  const [snap] = await svc.openEnvelopes([agreementId], CONTACTS, 'Sachbearbeitung AQB');
  envelopeId = snap!.envelope.id;
  const signed = await svc.signAsMinistry([envelopeId], { name: 'Kai Klose', actor: 'Kai Klose (Test)' });
  assert.ok(!signed[0]!.error, signed[0]!.error);
  const partner = svc.snapshot(envelopeId).signatories.find((s) => s.status === 'pending')!;
  await svc.signWithLink(newestLink(svc, partner.email!));
  const env = svc.snapshot(envelopeId).envelope;
  assert.equal(env.status, 'completed');
  const f = fileById(svc.store.db, env.current_file_id);
  signedPdf = new Uint8Array(readFileSync(absolutePath(svc.store.dataDir, f.path)));
  signedSha = f.sha256;
});
after(() => fx?.close());

describe('archive pages', () => {
  test('anonymous → login; clerk may not see /archiv', async () => {
    const anon = await request(fx.app).get('/archiv');
    assert.equal(anon.status, 303);
    assert.match(anon.headers.location!, /^\/login\?next=%2Farchiv/);
    const { agent } = await fx.login('clerk');
    assert.equal((await agent.get('/archiv')).status, 403);
    assert.equal((await agent.get(`/archiv/${agreementId}/signiert.pdf`)).status, 403);
    assert.equal((await agent.get('/pruefen')).status, 200);
    const api = await request(fx.app).get('/api/v1/archive');
    assert.equal(api.status, 401);
  });

  test('search: default newest year, by year, partner, signatory, project; misses', async () => {
    const { agent } = await fx.login('archivist');
    const def = await agent.get('/archiv');
    assert.equal(def.status, 200);
    assert.match(def.text, /Werra-Meißner-Kreis/);
    assert.match(def.text, /value="2023"/);
    assert.match(def.text, /unterzeichnet/);
    assert.match(def.text, /Nicole Rathgeber/);
    for (const q of ['year=2023', 'partner=werra', 'partner=werra-meissner-kreis', 'signatory=klose', 'project=dreiplus', 'project=HOGA&type=aqb&status=signed']) {
      const res = await agent.get(`/archiv?${q}`);
      assert.equal(res.status, 200, q);
      assert.match(res.text, new RegExp(`href="/archiv/${agreementId}"`), q);
    }
    for (const q of ['year=2024', 'partner=kassel', 'project=gibt-es-nicht', 'type=sgb2', 'status=draft']) {
      const res = await agent.get(`/archiv?${q}`);
      assert.equal(res.status, 200, q);
      assert.doesNotMatch(res.text, new RegExp(`href="/archiv/${agreementId}"`), q);
      assert.match(res.text, /Keine Vereinbarungen gefunden/, q);
    }
    assert.equal((await agent.get('/archiv?year=abc')).status, 422);
  });

  test('detail page shows files with SHA-256, signatories with certificates, the trail and the chain', async () => {
    const { agent } = await fx.login('archivist');
    const res = await agent.get(`/archiv/${agreementId}`);
    assert.equal(res.status, 200);
    assert.ok(res.text.includes(signedSha), 'signed PDF hash');
    const report = fileById(fx.ctx.svc.store.db, fx.ctx.svc.snapshot(envelopeId).envelope.report_file_id!);
    assert.ok(res.text.includes(report.sha256), 'report hash');
    assert.match(res.text, /Kai Klose/);
    assert.match(res.text, /Seriennummer/);
    assert.match(res.text, /Hash-Kette vollständig und unverändert/);
    assert.match(res.text, /Vollständig unterzeichnet/);
    assert.match(res.text, /Jetzt prüfen/);
    assert.equal((await agent.get('/archiv/99999')).status, 404);
    assert.equal((await agent.get('/archiv/abc')).status, 404);
  });

  test('"Jetzt prüfen" verifies the stored PDF and records the check', async () => {
    const { agent } = await fx.login('archivist');
    const res = await agent.get(`/archiv/${agreementId}/pruefung`);
    assert.equal(res.status, 200);
    assert.match(res.text, /Ergebnis: gültig/);
    assert.match(res.text, /GÜLTIG/);
    assert.ok(readEvents(fx.ctx.svc.store.db, envelopeId).some((e) => e.type === 'verified'));
  });

  test('downloads are the archived bytes and each is recorded', async () => {
    const { agent } = await fx.login('archivist');
    const before = readEvents(fx.ctx.svc.store.db, envelopeId).filter((e) => e.type === 'downloaded').length;
    const pdf = await agent.get(`/archiv/${agreementId}/signiert.pdf`).buffer(true).parse(binary);
    assert.equal(pdf.status, 200);
    assert.equal(pdf.headers['content-type'], 'application/pdf');
    assert.match(pdf.headers['content-disposition']!, /attachment; filename="?aqb-2023-werra-meissner-kreis\.pdf"?/);
    assert.equal(sha256Hex(pdf.body as Buffer), signedSha);
    const events = readEvents(fx.ctx.svc.store.db, envelopeId).filter((e) => e.type === 'downloaded');
    assert.equal(events.length, before + 1);
    assert.match(events.at(-1)!.actor, /Archiv HMSI/);
    assert.equal(fx.ctx.svc.checkChain(envelopeId).ok, true);

    const report = await agent.get(`/archiv/${agreementId}/protokoll.pdf`).buffer(true).parse(binary);
    assert.equal(report.status, 200);
    assert.equal((report.body as Buffer).subarray(0, 5).toString('latin1'), '%PDF-');
    const json = await agent.get(`/archiv/${agreementId}/eingabe.json`);
    assert.equal(json.status, 200);
    assert.equal(JSON.parse(typeof json.body === 'object' && !Buffer.isBuffer(json.body) ? JSON.stringify(json.body) : json.text).partner, 'werra-meissner-kreis');
    assert.equal((await agent.get(`/archiv/${agreementId}/papier.pdf`)).status, 404);
  });

  test('year export streams a ZIP with manifest.json; a year without agreements is a clear 404', async () => {
    const { agent } = await fx.login('archivist');
    const res = await agent.get('/archiv/export?year=2023&type=aqb').buffer(true).parse(binary);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/zip');
    assert.match(res.headers['content-disposition']!, /zielwerk-archiv-aqb-2023\.zip/);
    const zip = unzipSync(new Uint8Array(res.body as Buffer));
    const manifest = JSON.parse(new TextDecoder().decode(zip['manifest.json']));
    assert.equal(manifest.totals.agreements, 1);
    assert.equal(manifest.totals.valid, 1);
    const none = await agent.get('/archiv/export?year=2019');
    assert.equal(none.status, 404);
    assert.match(none.text, /keine elektronisch unterzeichneten Vereinbarungen/);
  });
});

describe('Prüfen', () => {
  test('the signed PDF is valid and found in the archive', async () => {
    const { agent, csrf } = await fx.login('clerk');
    const res = await agent.post('/pruefen').field('_csrf', csrf).attach('file', Buffer.from(signedPdf), 'vertrag.pdf');
    assert.equal(res.status, 200, res.text.slice(0, 500));
    assert.match(res.text, /Ergebnis: gültig/);
    assert.match(res.text, /im Archiv/);
    assert.match(res.text, /unterzeichnetes PDF der Vereinbarung/);
    assert.match(res.text, /<pre class="report">/);
    assert.doesNotMatch(res.text, new RegExp(`href="/archiv/${agreementId}"`), 'no archive links for a clerk');
  });

  test('one flipped byte makes it invalid (and no longer archived)', async () => {
    const { agent, csrf } = await fx.login('archivist');
    const bad = Buffer.from(signedPdf);
    const at = bad.indexOf('/Title') + 8;
    bad[at] = bad[at]! ^ 0x01;
    const res = await agent.post('/pruefen').field('_csrf', csrf).attach('file', bad, 'vertrag.pdf');
    // Still recognisably a Zielwerk document (its embedded data is intact): a report, not a refusal.
    assert.equal(res.status, 200);
    assert.match(res.text, /ungültig/);
    assert.match(res.text, /stimmt mit keinem Dokument im Archiv/);
  });

  test('a non-PDF is refused with 415; a foreign PDF gets a clear message; nothing is stored', async () => {
    const { agent, csrf } = await fx.login('archivist');
    const files = (fx.ctx.svc.store.db.prepare('SELECT count(*) AS n FROM files').get() as { n: number }).n;
    const txt = await agent.post('/pruefen').field('_csrf', csrf).attach('file', Buffer.from('kein pdf, nur text\n'), 'x.pdf');
    assert.equal(txt.status, 415);
    const doc = await PDFDocument.create();
    doc.addPage().drawText('Hallo');
    const foreign = Buffer.from(await doc.save());
    const res = await agent.post('/pruefen').field('_csrf', csrf).attach('file', foreign, 'fremd.pdf');
    // Neither a Zielwerk document nor in the archive: unprocessable, with the reason on the page.
    assert.equal(res.status, 422);
    assert.match(res.text, /Kein Zielwerk-Dokument/);
    const empty = await agent.post('/pruefen').field('_csrf', csrf);
    assert.equal(empty.status, 422);
    assert.match(empty.text, /Bitte eine PDF-Datei auswählen/);
    assert.equal((fx.ctx.svc.store.db.prepare('SELECT count(*) AS n FROM files').get() as { n: number }).n, files);
    const noCsrf = await agent.post('/pruefen').attach('file', foreign, 'fremd.pdf');
    assert.equal(noCsrf.status, 403);
  });
});

describe('paper signatures', () => {
  test('a paper-signed agreement: badge, scan download, verify finds the scan', async () => {
    const svc = fx.ctx.svc;
    const [a] = await generateIntoStore(svc.store, await readAgreementInputs(join(ROOT, 'examples', 'sgb2-2023-landkreis-kassel.json')), 'Test');
    const doc = await PDFDocument.create();
    doc.addPage().drawText('Scan mit Unterschriften');
    const scan = Buffer.from(await doc.save());
    await archivePaperScan(svc, a!.id, { bytes: scan, uploadedBy: 'Sachbearbeitung AQB', note: 'Original im Aktenraum' });
    const { agent, csrf } = await fx.login('archivist');
    const list = await agent.get('/archiv?year=2023&type=sgb2');
    assert.match(list.text, /auf Papier unterzeichnet/);
    assert.match(list.text, new RegExp(`/archiv/${a!.id}/papier\\.pdf`));
    const detail = await agent.get(`/archiv/${a!.id}`);
    assert.match(detail.text, /Scan der Papierunterschrift/);
    assert.ok(detail.text.includes(sha256Hex(scan)));
    assert.match(detail.text, /Original im Aktenraum/);
    const dl = await agent.get(`/archiv/${a!.id}/papier.pdf`).buffer(true).parse(binary);
    assert.equal(dl.status, 200);
    assert.equal(sha256Hex(dl.body as Buffer), sha256Hex(scan));
    assert.equal((await agent.get(`/archiv/${a!.id}/signiert.pdf`)).status, 404);
    const check = await agent.get(`/archiv/${a!.id}/pruefung`);
    assert.equal(check.status, 200);
    assert.match(check.text, /Scan der Papierunterschrift: unverändert/);
    const verified = await agent.post('/pruefen').field('_csrf', csrf).attach('file', scan, 'scan.pdf');
    assert.equal(verified.status, 200);
    assert.match(verified.text, /Kein Zielwerk-Dokument/);
    assert.match(verified.text, /im Archiv.*Scan der Papierunterschrift der Vereinbarung/s);

    // The year export carries the scan with a 'paper' verdict and no audit chain (no envelope was opened).
    const zip = await agent.get('/archiv/export?year=2023').buffer(true).parse(binary);
    assert.equal(zip.status, 200);
    const entries = unzipSync(new Uint8Array(zip.body as Buffer));
    const manifest = JSON.parse(new TextDecoder().decode(entries['manifest.json']!));
    const entry = manifest.agreements.find((m: { agreementId: number }) => m.agreementId === a!.id);
    assert.equal(entry.verification.verdict, 'paper');
    assert.equal(entry.auditChain, null);
    assert.equal(entry.paper.sha256, sha256Hex(scan));
    assert.equal(manifest.totals.paper, 1);
    const scanName = entry.files.find((f: { name: string }) => f.name.endsWith('-papier.pdf')).name;
    assert.equal(sha256Hex(entries[scanName]!), sha256Hex(scan));
  });
});

describe('archive API', () => {
  test('search, detail, downloads, export and verify with an API token', async () => {
    const archivist = fx.ctx.accounts.byUsername('archiv')!;
    const { token } = fx.ctx.accounts.createToken(archivist.id, 'test', 30);
    const auth = { Authorization: `Bearer ${token}` };
    const list = await request(fx.app).get('/api/v1/archive?year=2023&signatory=Rathgeber&project=zak').set(auth);
    assert.equal(list.status, 200);
    assert.equal(list.body.entries.length, 1);
    assert.equal(list.body.entries[0].agreementId, agreementId);
    assert.equal(list.body.entries[0].links.signedPdf, `/api/v1/archive/${agreementId}/signed.pdf`);
    assert.equal((await request(fx.app).get('/api/v1/archive?type=xyz').set(auth)).status, 422);

    const detail = await request(fx.app).get(`/api/v1/archive/${agreementId}`).set(auth);
    assert.equal(detail.status, 200);
    assert.equal(detail.body.files.find((f: { kind: string }) => f.kind === 'signed').sha256, signedSha);
    assert.equal(detail.body.chain.ok, true);
    assert.equal(detail.body.signatories.length, 2);
    assert.ok(detail.body.signatories[0].certificate.serial);
    assert.ok(detail.body.events.some((e: { type: string }) => e.type === 'completed'));
    assert.equal((await request(fx.app).get('/api/v1/archive/4711').set(auth)).status, 404);

    const pdf = await request(fx.app).get(`/api/v1/archive/${agreementId}/signed.pdf`).set(auth).buffer(true).parse(binary);
    assert.equal(sha256Hex(pdf.body as Buffer), signedSha);
    const report = await request(fx.app).get(`/api/v1/archive/${agreementId}/report.pdf`).set(auth).buffer(true).parse(binary);
    assert.equal(report.headers['content-type'], 'application/pdf');
    const zip = await request(fx.app).get('/api/v1/archive/export?year=2023&type=aqb').set(auth).buffer(true).parse(binary);
    assert.equal(zip.headers['content-type'], 'application/zip');
    assert.ok(unzipSync(new Uint8Array(zip.body as Buffer))['manifest.json']);
    const none = await request(fx.app).get('/api/v1/archive/export?year=2020&type=sgb2').set(auth);
    assert.equal(none.status, 404);
    assert.match(none.headers['content-type']!, /problem\+json/);

    const verify = await request(fx.app).post('/api/v1/verify').set(auth).attach('file', Buffer.from(signedPdf), 'a.pdf');
    assert.equal(verify.status, 200);
    assert.equal(verify.body.verdict, 'valid');
    assert.equal(verify.body.archived[0].agreementId, agreementId);
    assert.equal(verify.body.archived[0].kind, 'signed-pdf');

    const clerk = fx.ctx.accounts.byUsername('clerk')!;
    const clerkAuth = { Authorization: `Bearer ${fx.ctx.accounts.createToken(clerk.id, 'c', null).token}` };
    assert.equal((await request(fx.app).get('/api/v1/archive').set(clerkAuth)).status, 403);
    assert.equal((await request(fx.app).post('/api/v1/verify').set(clerkAuth).attach('file', Buffer.from(signedPdf), 'a.pdf')).status, 200);
  });
});
