/**
 * The clerk's area end to end through HTTP (supertest, real services): the agreement form with
 * errors at the fields, creation, downloads and new versions, contacts, envelopes (open, resend,
 * cancel), the paper fallback, the table upload (good and bad files: all or nothing), the year
 * dashboard with budget, and the JSON API with session and API token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import request from 'supertest';
import { kasselForm as validKasselForm, webFixture, type WebFixture } from './helpers/web.ts';
import { sha256Hex } from '../src/store/files.ts';
import { paperScanOf } from '../src/archive/paper.ts';
import { parseGermanAmount, germanLabel } from '../src/http/areas/clerk.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const EXAMPLES = join(ROOT, 'examples');

type Agent = ReturnType<typeof request.agent>;

let fx: WebFixture;
let clerk: Agent;
let csrf: string;

const count = (sql = 'SELECT count(*) AS n FROM agreements') => (fx.ctx.svc.store.db.prepare(sql).get() as { n: number }).n;
const agreement = (id: number) => fx.ctx.svc.store.db.prepare('SELECT * FROM agreements WHERE id = ?').get(id) as { id: number; status: string; version: number; amount_cents: number; input_json: string };

/** The form fields of a valid AQB agreement for Landkreis Kassel (partner signs first). */
const kasselForm = (overrides: Record<string, string> = {}) => validKasselForm(csrf, overrides);

/** The text of the element with this id (a crude look-up, enough for error paragraphs). */
function textOf(page: string, id: string): string | undefined {
  const m = new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(page);
  return m?.[1];
}

async function minimalPdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.addPage([595, 842]).drawText('Zielvereinbarung – auf Papier unterzeichnet', { x: 50, y: 780, size: 12 });
  return Buffer.from(await doc.save());
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');

before(async () => {
  fx = await webFixture();
  ({ agent: clerk, csrf } = await fx.login('clerk'));
});
after(() => fx.close());

describe('helpers', () => {
  test('German amounts', () => {
    assert.equal(parseGermanAmount('444.000'), 444000);
    assert.equal(parseGermanAmount('444000,50'), 444000.5);
    assert.equal(parseGermanAmount('1.058.100,00 €'), 1058100);
    // One parser with the tables (batch/numbers.ts): a single point groups thousands, ",-" means whole euros.
    assert.equal(parseGermanAmount('444000.5'), null);
    assert.equal(parseGermanAmount('444.00'), null);
    assert.equal(parseGermanAmount('444.000,-'), 444000);
    assert.equal(parseGermanAmount(' 1 341 400 '), 1341400);
    assert.equal(parseGermanAmount(''), undefined);
    assert.equal(parseGermanAmount('viel'), null);
    assert.equal(parseGermanAmount('1,2,3'), null);
  });
  test('German labels for model paths', () => {
    assert.equal(germanLabel('measures[1].projects[0]'), 'Maßnahme 2, Projekt 1');
    assert.equal(germanLabel('signatories.partner[0].role'), 'Unterzeichnende (Partner), Nr. 1, Funktion');
    assert.equal(germanLabel('amount'), 'Betrag');
  });
});

describe('clerk area', () => {
  let kasselV1 = 0;
  let kasselV2 = 0;
  let werra = 0;
  let kasselEnvelope = 0;
  let werraEnvelope = 0;

  test('the form shows each error at its field and a summary, and stores nothing', async () => {
    const before = count();
    const res = await clerk
      .post('/vereinbarungen')
      .type('form')
      .send(kasselForm({ amount: '', 'measures[0][projects][0]': '', 'signatories[partner][0][role]': '' }));
    assert.equal(res.status, 422);
    assert.match(res.text, /class="error-summary"/);
    assert.match(textOf(res.text, 'f-amount-error') ?? '', /^Betrag: ist bei AQB erforderlich/);
    assert.match(textOf(res.text, 'f-measures-0-projects--error') ?? '', /^Maßnahme 1, Projekte: mindestens ein Projekt/);
    assert.match(textOf(res.text, 'f-signatories-partner-0-role--error') ?? '', /Funktion/);
    assert.match(res.text, /href="#f-amount"/);
    // Entered values are kept.
    assert.match(res.text, /value="Andreas Siebert"/);
    assert.equal(count(), before);
  });

  test('unreadable amount and missing category get German messages', async () => {
    const res = await clerk
      .post('/vereinbarungen')
      .type('form')
      .send(kasselForm({ amount: 'viel Geld', 'measures[0][category]': '' }));
    assert.equal(res.status, 422);
    assert.match(textOf(res.text, 'f-amount-error') ?? '', /bitte als Betrag in Euro/);
    assert.match(textOf(res.text, 'f-measures-0-category--error') ?? '', /Maßnahmenart auswählen/);
  });

  test('"Zeile hinzufügen" without JavaScript re-renders with one more row', async () => {
    const res = await clerk
      .post('/vereinbarungen')
      .type('form')
      .send(kasselForm({ action: 'add:measures[0][projects]' }));
    assert.equal(res.status, 200);
    assert.match(res.text, /name="measures\[0\]\[projects\]\[1\]"/);
    assert.match(res.text, /value="Begleitete Ausbildung"/);
    assert.doesNotMatch(res.text, /error-summary/);
  });

  test('create: redirect to the detail page; PDF and DOCX downloads', async () => {
    const res = await clerk.post('/vereinbarungen').type('form').send(kasselForm());
    assert.equal(res.status, 303, res.text.slice(0, 500));
    const m = /^\/vereinbarungen\/(\d+)\?ok=created$/.exec(res.headers.location);
    assert.ok(m, res.headers.location);
    kasselV1 = Number(m[1]);
    assert.equal(agreement(kasselV1).amount_cents, 84_650_000);
    const detail = await clerk.get(res.headers.location);
    assert.equal(detail.status, 200);
    assert.match(detail.text, /Zielvereinbarung 2023 – Landkreis Kassel \(AQB\)/);
    assert.match(detail.text, /<iframe class="preview" src="\/vereinbarungen\/\d+\/dokument.pdf"/);
    assert.match(detail.text, /Entwurf/);
    assert.match(detail.text, /846\.500,00/);

    const pdf = await clerk.get(`/vereinbarungen/${kasselV1}/dokument.pdf`).buffer(true);
    assert.equal(pdf.status, 200);
    assert.equal(pdf.headers['content-type'], 'application/pdf');
    assert.match(pdf.headers['content-disposition'], /^inline; filename="aqb-2023-landkreis-kassel-v1.pdf"/);
    assert.equal(Buffer.from(pdf.body).subarray(0, 5).toString('latin1'), '%PDF-');
    const docx = await clerk.get(`/vereinbarungen/${kasselV1}/dokument.docx`).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    assert.equal(docx.status, 200);
    assert.match(docx.headers['content-disposition'], /^attachment;/);
    assert.equal((docx.body as Buffer).subarray(0, 4).toString('hex'), '504b0304');
  });

  test('preview renders a PDF without storing anything', async () => {
    const before = count('SELECT count(*) AS n FROM files');
    const res = await clerk.post('/vereinbarungen/vorschau').type('form').send(kasselForm()).buffer(true);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/pdf');
    assert.equal(Buffer.from(res.body).subarray(0, 5).toString('latin1'), '%PDF-');
    assert.equal(count('SELECT count(*) AS n FROM files'), before);
  });

  test('new version: prefilled form, then version 2; version 1 is superseded', async () => {
    const form = await clerk.get(`/vereinbarungen/${kasselV1}/bearbeiten`);
    assert.equal(form.status, 200);
    assert.match(form.text, /value="846\.500"/);
    assert.match(form.text, /value="Begleitete Ausbildung"/);
    const res = await clerk
      .post(`/vereinbarungen/${kasselV1}`)
      .type('form')
      .send(kasselForm({ amount: '846.500,50', 'signatories[partner][1][name]': 'Silke Engler', 'signatories[partner][1][role]': 'Erste Kreisbeigeordnete' }));
    assert.equal(res.status, 303, res.text.slice(0, 800));
    kasselV2 = Number(/\/vereinbarungen\/(\d+)/.exec(res.headers.location)![1]);
    assert.equal(agreement(kasselV2).version, 2);
    assert.equal(agreement(kasselV1).status, 'superseded');
    const old = await clerk.get(`/vereinbarungen/${kasselV1}`);
    assert.match(old.text, /ältere Fassung/);
    assert.equal((await clerk.get(`/vereinbarungen/${kasselV1}/bearbeiten`)).status, 409);
  });

  test('API: invalid body → 422 problem+json with field paths; archivist may read, not write', async () => {
    const res = await clerk
      .post('/api/v1/agreements')
      .set('X-CSRF-Token', csrf)
      .send({ type: 'aqb', year: 2023, partner: 'werra-meissner-kreis', measures: [{ category: 'ausbildung', projects: [] }], signatories: { partner: [{ name: 'Nicole Rathgeber', role: 'Landrätin' }] } });
    assert.equal(res.status, 422);
    assert.match(res.headers['content-type'], /application\/problem\+json/);
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
    assert.ok(paths.includes('amount'), JSON.stringify(res.body));
    assert.ok(paths.includes('measures[0].projects'), JSON.stringify(res.body));

    assert.equal((await request(fx.app).get('/api/v1/agreements?year=2023')).status, 401);
    const { agent: archivist, csrf: archivCsrf } = await fx.login('archivist');
    const list = await archivist.get('/api/v1/agreements?year=2023');
    assert.equal(list.status, 200);
    assert.equal(list.body.agreements.length, 1);
    assert.equal(list.body.agreements[0].version, 2);
    assert.equal((await archivist.get(`/api/v1/agreements/${kasselV2}`)).body.versions.length, 2);
    assert.equal((await archivist.post('/api/v1/agreements').set('X-CSRF-Token', archivCsrf).send({})).status, 403);
  });

  test('API with an API token: no CSRF needed; versions keep type, year and partner', async () => {
    const user = fx.ctx.accounts.byUsername('clerk')!;
    const { token } = fx.ctx.accounts.createToken(user.id, 't', null);
    const body = JSON.parse(readFileSync(join(EXAMPLES, 'aqb-2023-werra-meissner-kreis.json'), 'utf8'));
    const res = await request(fx.app).post('/api/v1/agreements').set('Authorization', `Bearer ${token}`).send(body);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.partnerId, 'werra-meissner-kreis');
    assert.equal(res.body.amount, 444000);
    werra = res.body.id;
    const wrong = await request(fx.app).post(`/api/v1/agreements/${werra}/versions`).set('Authorization', `Bearer ${token}`).send({ ...body, partner: 'landkreis-kassel' });
    assert.equal(wrong.status, 422);
    assert.deepEqual(wrong.body.errors.map((e: { path: string }) => e.path), ['partner']);
    const pdf = await request(fx.app).get(`/api/v1/agreements/${werra}/pdf`).set('Authorization', `Bearer ${token}`).buffer(true);
    assert.equal(Buffer.from(pdf.body).subarray(0, 5).toString('latin1'), '%PDF-');
    // Without the token and without a session the same call is refused.
    assert.equal((await request(fx.app).post('/api/v1/agreements').send(body)).status, 401);
  });

  test('envelopes: missing addresses are named, with a link to the contacts', async () => {
    const res = await clerk.post('/umschlaege').type('form').send({ _csrf: csrf, agreementIds: [String(kasselV2), String(werra)] });
    assert.equal(res.status, 422);
    assert.match(res.text, /Andreas Siebert/);
    assert.match(res.text, /Nicole Rathgeber/);
    assert.match(res.text, /href="\/kontakte"/);
    assert.equal(count("SELECT count(*) AS n FROM envelopes"), 0);
    const contacts = await clerk.get('/kontakte');
    assert.match(contacts.text, /Ohne Adresse \(3\)/);
  });

  test('contacts: one entry with errors, then the contacts file', async () => {
    const bad = await clerk.post('/kontakte').type('form').send({ _csrf: csrf, party: 'landkreis-kassel', name: 'Andreas Siebert', email: 'kein-at' });
    assert.equal(bad.status, 422);
    assert.match(textOf(bad.text, 'f-email-error') ?? '', /^E-Mail:/);
    const one = await clerk.post('/kontakte').type('form').send({ _csrf: csrf, party: 'landkreis-kassel', name: 'Andreas Siebert', email: 'siebert@example.org' });
    assert.equal(one.status, 303);
    const up = await clerk.post('/kontakte/import').field('_csrf', csrf).attach('file', join(EXAMPLES, 'aqb-2023-kontakte.json'));
    assert.equal(up.status, 200, up.text.slice(0, 500));
    assert.match(up.text, /Adressen gelesen/);
    assert.match(up.text, /Für alle Unterzeichnenden aktueller Vereinbarungen ist eine Adresse hinterlegt/);
    assert.match(up.text, /andreas\.siebert@landkreis-kassel\.example/);
  });

  test('open envelopes for two agreements: in Unterzeichnung, invitations in the outbox', async () => {
    const res = await clerk.post('/umschlaege').type('form').send({ _csrf: csrf, agreementIds: [String(kasselV2), String(werra)] });
    assert.equal(res.status, 200, res.text.slice(0, 1500));
    assert.match(res.text, /2 Umschläge geöffnet/);
    assert.match(res.text, /Andreas Siebert/);
    assert.equal(agreement(kasselV2).status, 'in_signing');
    assert.equal(agreement(werra).status, 'in_signing');
    const emls = readdirSync(join(fx.dir, 'outbox'), { recursive: true }).filter((f) => String(f).endsWith('.eml'));
    assert.ok(emls.length >= 3, `outbox: ${emls.join(', ')}`);
    const db = fx.ctx.svc.store.db;
    kasselEnvelope = (db.prepare('SELECT id FROM envelopes WHERE agreement_id = ?').get(kasselV2) as { id: number }).id;
    werraEnvelope = (db.prepare('SELECT id FROM envelopes WHERE agreement_id = ?').get(werra) as { id: number }).id;
    const detail = await clerk.get(`/vereinbarungen/${kasselV2}`);
    assert.match(detail.text, /in Unterzeichnung/);
    assert.match(detail.text, /Link erneut senden/);
    assert.match(detail.text, /ist an der Reihe/);
    // No new version while in signing, neither by the edit form nor as a "new" agreement.
    assert.equal((await clerk.get(`/vereinbarungen/${kasselV2}/bearbeiten`)).status, 409);
    const before = count();
    const again = await clerk.post('/vereinbarungen').type('form').send(kasselForm());
    assert.equal(again.status, 409);
    assert.match(again.text, /Version 2 ist in Unterzeichnung/);
    assert.equal(count(), before);
  });

  test('resend and cancel', async () => {
    const db = fx.ctx.svc.store.db;
    const notes = () => (db.prepare('SELECT count(*) AS n FROM notifications').get() as { n: number }).n;
    const before = notes();
    const res = await clerk.post(`/umschlaege/${kasselEnvelope}/erneut-senden`).type('form').send({ _csrf: csrf });
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, `/vereinbarungen/${kasselV2}?ok=resent`);
    assert.equal(notes(), before + 1);
    // Werra: the ministry signs first, so there is no link to resend.
    assert.equal((await clerk.post(`/umschlaege/${werraEnvelope}/erneut-senden`).type('form').send({ _csrf: csrf })).status, 409);
    assert.equal((await clerk.post(`/umschlaege/${werraEnvelope}/stornieren`).type('form').send({ _csrf: csrf, reason: '' })).status, 422);
    const cancel = await clerk.post(`/umschlaege/${werraEnvelope}/stornieren`).type('form').send({ _csrf: csrf, reason: 'Betrag wird korrigiert' });
    assert.equal(cancel.status, 303);
    assert.equal(agreement(werra).status, 'cancelled');
    const detail = await clerk.get(cancel.headers.location);
    assert.match(detail.text, /Der Umschlag wurde storniert/);
  });

  test('paper fallback: a PNG named .pdf is refused (415), nothing stored', async () => {
    const files = count('SELECT count(*) AS n FROM files');
    const res = await clerk.post(`/vereinbarungen/${werra}/papier`).field('_csrf', csrf).attach('file', PNG, { filename: 'scan.pdf', contentType: 'application/pdf' });
    assert.equal(res.status, 415);
    assert.equal(count('SELECT count(*) AS n FROM files'), files);
    assert.equal(count('SELECT count(*) AS n FROM paper_signatures'), 0);
    assert.equal(agreement(werra).status, 'cancelled');
  });

  test('paper fallback: the scan is archived, the open envelope cancelled, status signed', async () => {
    const pdf = await minimalPdf();
    const res = await clerk.post(`/vereinbarungen/${kasselV2}/papier`).field('_csrf', csrf).field('note', 'Original im Aktenordner 2023/7').attach('file', pdf, { filename: 'scan.pdf', contentType: 'application/pdf' });
    assert.equal(res.status, 303, res.text.slice(0, 800));
    assert.equal(agreement(kasselV2).status, 'signed');
    const db = fx.ctx.svc.store.db;
    assert.equal((db.prepare('SELECT status FROM envelopes WHERE id = ?').get(kasselEnvelope) as { status: string }).status, 'cancelled');
    const scan = paperScanOf(db, kasselV2)!;
    assert.equal(scan.sha256, sha256Hex(pdf));
    assert.equal(scan.note, 'Original im Aktenordner 2023/7');
    assert.equal(scan.path, 'signatures/2023/aqb-2023-landkreis-kassel/v2/aqb-2023-landkreis-kassel-papier.pdf');
    assert.deepEqual(readFileSync(join(fx.dir, scan.path)), pdf);
    const detail = await clerk.get(`/vereinbarungen/${kasselV2}`);
    assert.match(detail.text, /auf Papier unterzeichnet/);
    assert.match(detail.text, new RegExp(scan.sha256));
    assert.match(detail.text, /Sachbearbeitung AQB/);
    // Twice is refused.
    const again = await clerk.post(`/vereinbarungen/${kasselV2}/papier`).field('_csrf', csrf).attach('file', pdf, { filename: 'scan.pdf', contentType: 'application/pdf' });
    assert.equal(again.status, 409);
    const api = await clerk.get(`/api/v1/agreements/${kasselV2}`);
    assert.equal(api.body.paper.sha256, scan.sha256);
    assert.equal(api.body.statusLabel, 'auf Papier unterzeichnet');
    const list = await clerk.get('/api/v1/agreements?year=2023&status=paper');
    assert.deepEqual(list.body.agreements.map((a: { id: number }) => a.id), [kasselV2]);
  });

  test('import of a bad JSON batch: errors per entry, nothing stored', async () => {
    const batch = JSON.parse(readFileSync(join(EXAMPLES, 'aqb-2023-hessen.json'), 'utf8'));
    batch.agreements[3].amount = -5;
    batch.agreements[5].measures[0].projects = [];
    const before = count();
    const res = await clerk.post('/import').field('_csrf', csrf).attach('file', Buffer.from(JSON.stringify(batch)), { filename: 'jahr.json', contentType: 'application/json' });
    assert.equal(res.status, 422);
    assert.match(res.text, /Es wurde nichts erzeugt/);
    const partner3 = batch.agreements[3].partner as string;
    assert.match(res.text, new RegExp(`Eintrag 4 \\([^)]+\\): Betrag \\(amount\\)`), partner3);
    assert.match(res.text, /Eintrag 6 \([^)]+\): Maßnahme 1, Projekte/);
    assert.equal(count(), before);
  });

  test('API import: dry run of one agreement; bad file → 422 with all problems', async () => {
    const dry = await clerk.post('/api/v1/agreements/import').set('X-CSRF-Token', csrf).field('dryRun', 'true').attach('file', join(EXAMPLES, 'sgb2-2023-landkreis-kassel.json'));
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.dryRun, true);
    assert.equal(dry.body.agreements[0].fileBase, 'sgb2-2023-landkreis-kassel');
    const before = count();
    const bad = await clerk.post('/api/v1/agreements/import').set('X-CSRF-Token', csrf).attach('file', Buffer.from(JSON.stringify({ type: 'aqb', year: 2023, partner: 'x', signatories: {} })), { filename: 'a.json' });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path), ['partner', 'signatories.partner']);
    assert.doesNotMatch(bad.body.detail, /zv-import|tmp/);
    assert.equal(count(), before);
  });

  test('import of a bad CSV: row references, nothing stored', async () => {
    // The upload check recognises CSV by a delimiter in the first line; the example starts with a
    // settings line ("# Art: aqb"), so a trailing ";" makes it recognisable (see the report).
    const csv = readFileSync(join(EXAMPLES, 'aqb-2023-hessen.csv'), 'utf8')
      .replace('# Art: aqb', '# Art: aqb;')
      .replace('Landkreis Bergstraße;1.058.100;', 'Landkreis Bergstraße;viel;');
    const before = count();
    const res = await clerk.post('/import').field('_csrf', csrf).attach('file', Buffer.from(csv), { filename: 'jahr.csv', contentType: 'text/csv' });
    assert.equal(res.status, 422, res.text.slice(0, 500));
    assert.match(res.text, /Zeile \d+/);
    assert.equal(count(), before);
  });

  test('dry run of the year table stores nothing; the real import creates 26 agreements', async () => {
    const before = count();
    const dry = await clerk.post('/import').field('_csrf', csrf).field('dryRun', '1').attach('file', join(EXAMPLES, 'aqb-2023-hessen.json'));
    assert.equal(dry.status, 200, dry.text.slice(0, 500));
    assert.match(dry.text, /nur geprüft/);
    assert.equal(count(), before);
    // Werra-Meißner's cancelled version 1 gets a version 2; Kassel (signed on paper) a version 3.
    const res = await clerk.post('/import').field('_csrf', csrf).attach('file', join(EXAMPLES, 'aqb-2023-hessen.json'));
    assert.equal(res.status, 200, res.text.slice(0, 800));
    assert.match(res.text, /26 Vereinbarungen erzeugt/);
    assert.match(res.text, /href="\/jahre\/2023"/);
    assert.equal(count(), before + 26);
  });

  test('dashboard: 26 partners, totals and the budget', async () => {
    const res = await clerk.get('/jahre/2023');
    assert.equal(res.status, 200);
    assert.equal((res.text.match(/<th scope="row">/g) ?? []).length, 26);
    assert.match(res.text, /id="aqb-sum">27\.700\.000,00\s€/);
    assert.match(res.text, /Umschläge öffnen/);
    assert.equal((res.text.match(/name="agreementIds"/g) ?? []).length, 26);
    const set = await clerk.post('/jahre/2023/budget').type('form').send({ _csrf: csrf, budget: '27.000.000' });
    assert.equal(set.status, 303);
    const over = await clerk.get('/jahre/2023');
    assert.match(over.text, /class="over">700\.000,00\s€ über Budget/);
    const json = await clerk.get('/api/v1/years/2023');
    assert.equal(json.body.totals.aqbSum, 27_700_000);
    assert.equal(json.body.totals.aqbBudget, 27_000_000);
    assert.equal(json.body.totals.difference, -700_000);
    assert.equal(json.body.partners.length, 26);
    const put = await clerk.put('/api/v1/years/2023/budget').set('X-CSRF-Token', csrf).send({ aqbBudget: 27_700_000 });
    assert.equal(put.status, 200);
    assert.equal(put.body.totals.difference, 0);
    const sgb = await clerk.get('/jahre/2023?type=sgb2');
    assert.doesNotMatch(sgb.text, /name="agreementIds"/);
    const years = await clerk.get('/jahre');
    assert.match(years.text, /href="\/jahre\/2023"/);
  });
});
