/**
 * Signing through a personal link in the browser and over the API: three agreements of different
 * partners (Werra-Meißner-Kreis, Landkreis Fulda, Landkreis Kassel, Stadt Kassel), the ministry has signed, the
 * partner links come from the outbox .eml files as a signatory would get them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import sharp from 'sharp';
import { webFixture, type WebFixture } from './helpers/web.ts';
import { readContactsFile } from '../src/envelope/contacts.ts';
import { parseEml } from '../src/envelope/notify.ts';
import { NEUTRAL_REFUSAL } from '../src/envelope/service.ts';
import { generateIntoStore, readAgreementInputs } from '../src/store/agreements.ts';
import { absolutePath, fileById, sha256Hex } from '../src/store/files.ts';
import { verifyAgreement } from '../src/sign/verify.ts';
import { trustAnchorsOf } from '../src/archive/archive.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const CONTACTS = readContactsFile(join(ROOT, 'examples', 'aqb-2023-kontakte.json'));
const WERRA = 'werra-meissner-kreis';
const FULDA = 'landkreis-fulda';
const KASSEL = 'landkreis-kassel';
const STADT_KASSEL = 'stadt-kassel';
const RATHGEBER = 'nicole.rathgeber@werra-meissner-kreis.example';
const KRAUSE = 'markus.krause@landkreis-fulda.example';
const SIEBERT = 'andreas.siebert@landkreis-kassel.example';
const ENGLER = 'silke.engler@landkreis-kassel.example';
const SCHOLZ = 'oliver.scholz@stadt-kassel.example';

let fx: WebFixture;
const env: Record<string, number> = {};

/** The newest personal link mailed to `email` (from the outbox .eml), as the path /sign/<token>. */
function linkPath(email: string, kinds = ['invite', 'turn', 'reminder']): string {
  const svc = fx.ctx.svc;
  const row = svc.store.db
    .prepare(
      `SELECT f.path FROM notifications n JOIN files f ON f.id = n.eml_file_id
       WHERE n.recipient LIKE ? AND n.kind IN (${kinds.map(() => '?').join(',')}) ORDER BY n.id DESC LIMIT 1`,
    )
    .get(`%<${email}>`, ...kinds) as { path: string } | undefined;
  assert.ok(row, `no mail with a link to ${email}`);
  const link = parseEml(readFileSync(absolutePath(svc.store.dataDir, row.path))).link;
  assert.ok(link);
  return new URL(link).pathname;
}

const tokenOf = (path: string) => path.split('/').pop()!;

/** A browser of the signatory: its own cookie jar, the CSRF token from the signing page. */
async function browser(path: string) {
  const agent = request.agent(fx.app);
  const res = await agent.get(path);
  assert.equal(res.status, 200, res.text.slice(0, 500));
  const csrf = /name="_csrf" value="([^"]+)"/.exec(res.text)?.[1];
  assert.ok(csrf, 'the signing page carries a CSRF field');
  return { agent, csrf, page: res.text };
}

const byteRanges = (pdf: Buffer) => pdf.toString('latin1').match(/\/ByteRange\s*\[/g)?.length ?? 0;

async function pngDataUrl(): Promise<string> {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200"><rect width="600" height="200" fill="white"/><path d="M20 150 C 120 20, 200 180, 300 90 S 480 40, 580 140" stroke="#0a2a66" stroke-width="4" fill="none"/></svg>');
  return `data:image/png;base64,${(await sharp(svg).png().toBuffer()).toString('base64')}`;
}

/** Every visible form control has a label (label[for] or aria-label). */
function unlabelled(page: string): string[] {
  const labels = new Set([...page.matchAll(/<label[^>]*\bfor="([^"]+)"/g)].map((m) => m[1]));
  const missing: string[] = [];
  for (const m of page.matchAll(/<(input|select|textarea)\b([^>]*)>/g)) {
    const attrs = m[2]!;
    if (/\btype="hidden"/.test(attrs)) continue;
    const id = /\bid="([^"]+)"/.exec(attrs)?.[1];
    if (/\baria-label="[^"]+"/.test(attrs)) continue;
    if (!id || !labels.has(id)) missing.push(m[0]);
  }
  return missing;
}

before(async () => {
  fx = await webFixture();
  const svc = fx.ctx.svc;
  const inputs = (await readAgreementInputs(join(ROOT, 'examples', 'aqb-2023-hessen.json'))).filter((r) => [WERRA, FULDA, KASSEL, STADT_KASSEL].includes(r.partner.id));
  const rows = await generateIntoStore(svc.store, inputs, 'Test');
  const opened = await svc.openEnvelopes(rows.map((r) => r.id), CONTACTS, 'Test');
  for (const s of opened) env[s.agreement.partner_id] = s.envelope.id;
  const results = await svc.signAsMinistry(Object.values(env), { name: 'Kai Klose' });
  assert.ok(results.every((r) => r.outcome), JSON.stringify(results));
});

after(() => fx?.close());

describe('signing page', () => {
  test('shows the agreement, the PDF and a labelled, keyboard-usable form; nav and user are not shown', async () => {
    const path = linkPath(RATHGEBER);
    const { page } = await browser(path);
    assert.match(page, /Werra-Meißner-Kreis/);
    assert.match(page, /Nicole Rathgeber/);
    assert.match(page, /Landrätin/);
    assert.ok(page.includes(`<iframe class="preview" src="${path}/dokument.pdf" title=`), 'PDF preview');
    assert.ok(page.includes(`href="${path}/dokument.pdf"`), 'download link');
    assert.match(page, /Ich habe die Vereinbarung gelesen und unterzeichne sie elektronisch\./);
    assert.match(page, /<canvas class="sigpad"[^>]*tabindex="0"/);
    assert.match(page, />Einfach elektronisch unterzeichnen<\/button>/);
    assert.match(page, />Ablehnen<\/button>/);
    assert.match(page, /name="place" type="text" value="Eschwege"/, 'place defaults to the seat');
    assert.match(page, /name="date" type="date" value="\d{4}-\d{2}-\d{2}"/);
    assert.match(page, /<script src="\/static\/sign\.js" defer><\/script>/);
    assert.doesNotMatch(page, /<script>|style="/, 'no inline script or style');
    assert.doesNotMatch(page, /Hauptnavigation|Abmelden/);
    assert.deepEqual(unlabelled(page), []);
    // Kai Klose has signed; it is her turn.
    assert.match(page, /Kai Klose<\/td><td>[^<]*<\/td><td>unterzeichnet/);
  });

  test('a signatory whose turn has not come sees who is missing and no sign form, but can decline', async () => {
    const res = await request(fx.app).get(linkPath(ENGLER));
    assert.equal(res.status, 200);
    assert.match(res.text, /erst unterzeichnen, wenn Andreas Siebert \(Landrat\) unterzeichnet hat/);
    assert.doesNotMatch(res.text, /enctype="multipart\/form-data"/);
    assert.match(res.text, />Ablehnen<\/button>/);
    assert.deepEqual(unlabelled(res.text), []);
  });

  test('POST without CSRF token → 403, nothing signed', async () => {
    const path = linkPath(RATHGEBER);
    const before = fx.ctx.svc.snapshot(env[WERRA]!).signatories;
    const res = await request(fx.app).post(path).field('place', 'Eschwege').field('date', '2023-01-01').field('confirm', 'ja');
    assert.equal(res.status, 403);
    assert.deepEqual(fx.ctx.svc.snapshot(env[WERRA]!).signatories, before);
  });

  test('uploads are judged by content and size: a text file named x.png → 415, more than 2 MB → 413', async () => {
    const path = linkPath(RATHGEBER);
    const { agent, csrf } = await browser(path);
    const text = await agent.post(path).field('_csrf', csrf).field('place', 'Eschwege').field('confirm', 'ja').attach('image', Buffer.from('no picture at all\n'), { filename: 'x.png', contentType: 'image/png' });
    assert.equal(text.status, 415, text.text.slice(0, 300));
    const big = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2 * 1024 * 1024 + 100)]);
    const large = await agent.post(path).field('_csrf', csrf).field('place', 'Eschwege').field('confirm', 'ja').attach('image', big, { filename: 'big.png', contentType: 'image/png' });
    assert.equal(large.status, 413);
    assert.equal(fx.ctx.svc.snapshot(env[WERRA]!).signatories.find((s) => s.party === 'partner')!.status, 'pending');
  });

  test('input errors re-render the form (422) with the errors announced and linked to the fields', async () => {
    const path = linkPath(RATHGEBER);
    const { agent, csrf } = await browser(path);
    const res = await agent.post(path).field('_csrf', csrf).field('place', '').field('date', '2999-01-01').field('drawn', 'data:image/png;base64,AAAA');
    assert.equal(res.status, 422);
    assert.match(res.text, /role="alert"/);
    assert.match(res.text, /id="f-place"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*e-place/);
    assert.match(res.text, /id="e-place"/);
    assert.match(res.text, /id="f-date"[^>]*aria-describedby="[^"]*e-date/);
    assert.match(res.text, /id="f-confirm"[^>]*aria-describedby="e-confirm"/);
    assert.match(res.text, /id="e-drawn"/);
    assert.equal(fx.ctx.svc.snapshot(env[WERRA]!).signatories.find((s) => s.party === 'partner')!.status, 'pending');
  });

  test('decline with an empty reason → 422 with the error at the field', async () => {
    const path = linkPath(KRAUSE);
    const { agent, csrf } = await browser(path);
    const res = await agent.post(`${path}/ablehnen`).type('form').send({ _csrf: csrf, reason: '   ' });
    assert.equal(res.status, 422);
    assert.match(res.text, /<textarea id="f-reason"[^>]*aria-invalid="true"[^>]*aria-describedby="e-reason"/);
    assert.match(res.text, /<p class="error" id="e-reason">Bitte begründen Sie die Ablehnung\.<\/p>/);
    assert.equal(fx.ctx.svc.snapshot(env[FULDA]!).envelope.status, 'open');
  });

  test('sign with a drawn signature → success page; the signed PDF stays downloadable with the same link; the link cannot sign again', async () => {
    const path = linkPath(RATHGEBER);
    const { agent, csrf } = await browser(path);
    const beforePdf = await agent.get(`${path}/dokument.pdf`).buffer(true);
    assert.equal(beforePdf.status, 200);
    assert.equal(beforePdf.type, 'application/pdf');
    assert.match(beforePdf.headers['content-disposition'], /^inline; filename="aqb-2023-werra-meissner-kreis[a-z-]*\.pdf"$/);
    const signaturesBefore = byteRanges(beforePdf.body);

    const today = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Berlin' }).format(new Date());
    const res = await agent.post(path).field('_csrf', csrf).field('place', 'Eschwege').field('date', today).field('drawn', await pngDataUrl()).field('confirm', 'ja');
    assert.equal(res.status, 200, res.text.slice(0, 800));
    assert.match(res.text, /Vielen Dank – Sie haben unterzeichnet/);
    assert.match(res.text, /vollständig unterzeichnet/);
    const snap = fx.ctx.svc.snapshot(env[WERRA]!);
    assert.equal(snap.envelope.status, 'completed');
    const current = fileById(fx.ctx.svc.store.db, snap.envelope.current_file_id);
    assert.ok(res.text.includes(current.sha256), 'the SHA-256 of the signed document is shown');
    assert.ok(res.text.includes(`href="${path}/dokument.pdf"`));

    // Downloadable afterwards, with one more signature; a fresh browser works too (the link is the key).
    const afterPdf = await request(fx.app).get(`${path}/dokument.pdf`).buffer(true);
    assert.equal(afterPdf.status, 200);
    // One more signature, and the completion's document time-stamp (B-LTA).
    assert.equal(byteRanges(afterPdf.body), signaturesBefore + 2);
    assert.equal(sha256Hex(afterPdf.body), current.sha256);
    const report = await verifyAgreement(new Uint8Array(afterPdf.body), { trust: trustAnchorsOf(fx.ctx.svc), requireComplete: true, skipReproduction: true });
    assert.equal(report.signatures.length, signaturesBefore + 1);
    assert.equal(report.pending.length, 0);
    assert.equal(report.verdict, 'valid', JSON.stringify(report.problems));
    const api = await request(fx.app).get(`/api/v1/sign/${tokenOf(path)}/document`).buffer(true);
    assert.equal(api.status, 200);
    assert.equal(sha256Hex(api.body), current.sha256);

    // The page and a second signature refuse the used link neutrally.
    const again = await agent.post(path).field('_csrf', csrf).field('place', 'Eschwege').field('confirm', 'ja');
    assert.equal(again.status, 410);
    assert.ok(again.text.includes(NEUTRAL_REFUSAL));
    const view = await request(fx.app).get(path);
    assert.equal(view.status, 410);
  });

  test('IDOR: a link only ever reaches its own envelope’s document', async () => {
    const werra = linkPath(RATHGEBER);
    const fulda = linkPath(KRAUSE);
    const werraFile = fileById(fx.ctx.svc.store.db, fx.ctx.svc.snapshot(env[WERRA]!).envelope.current_file_id);
    const fuldaFile = fileById(fx.ctx.svc.store.db, fx.ctx.svc.snapshot(env[FULDA]!).envelope.current_file_id);
    for (const suffix of ['/dokument.pdf', `/dokument.pdf?id=${env[FULDA]}&envelopeId=${env[FULDA]}&fileId=${fuldaFile.id}`]) {
      const a = await request(fx.app).get(`${werra}${suffix}`).buffer(true);
      assert.equal(a.status, 200);
      assert.equal(sha256Hex(a.body), werraFile.sha256);
    }
    const b = await request(fx.app).get(`${fulda}/dokument.pdf?id=${env[WERRA]}`).buffer(true);
    assert.equal(sha256Hex(b.body), fuldaFile.sha256);
    assert.notEqual(werraFile.sha256, fuldaFile.sha256);
    const other = await request(fx.app).get(`/sign/${tokenOf(werra)}/../${env[FULDA]}/dokument.pdf`);
    assert.notEqual(other.status, 200);
  });

  test('API: summary, sign with JSON, refusal as problem+json', async () => {
    const path = linkPath(SIEBERT);
    const token = tokenOf(path);
    const summary = await request(fx.app).get(`/api/v1/sign/${token}`);
    assert.equal(summary.status, 200);
    assert.equal(summary.body.agreement.partner, 'Landkreis Kassel');
    assert.equal(summary.body.signatory.name, 'Andreas Siebert');
    assert.equal(summary.body.canSign, true);
    assert.deepEqual(summary.body.waitingFor, []);
    const englerView = await request(fx.app).get(`/api/v1/sign/${tokenOf(linkPath(ENGLER))}`);
    assert.equal(englerView.body.canSign, false);
    assert.deepEqual(englerView.body.waitingFor, [{ name: 'Andreas Siebert', role: 'Landrat' }]);

    const bad = await request(fx.app).post(`/api/v1/sign/${token}`).send({ image: 'bm8gcGljdHVyZQ==' });
    assert.equal(bad.status, 415);
    const signed = await request(fx.app).post(`/api/v1/sign/${token}`).send({ place: 'Kassel' });
    assert.equal(signed.status, 200, signed.text);
    assert.equal(signed.body.completed, false);
    assert.deepEqual(signed.body.next, { name: 'Silke Engler', role: 'Erste Kreisbeigeordnete' });
    const again = await request(fx.app).post(`/api/v1/sign/${token}`).send({});
    assert.equal(again.status, 410);
    assert.match(again.type, /problem\+json/);
    assert.equal(again.body.detail, NEUTRAL_REFUSAL);
  });

  test('concurrent signatures with one link: exactly one succeeds, the others get the neutral refusal', async () => {
    const token = tokenOf(linkPath(ENGLER, ['turn']));
    const results = await Promise.all([1, 2, 3].map(() => request(fx.app).post(`/api/v1/sign/${token}`).send({})));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 410, 410], results.map((r) => r.text).join('\n'));
    const snap = fx.ctx.svc.snapshot(env[KASSEL]!);
    assert.equal(snap.envelope.status, 'completed');
    assert.equal(snap.signatories.filter((s) => s.status === 'signed').length, 3);
  });

  test('unknown, used, declined and cancelled links get the same neutral page; a malformed one a 404 with the same text', async () => {
    // Decline Fulda through the page.
    const fulda = linkPath(KRAUSE);
    const { agent, csrf } = await browser(fulda);
    const declined = await agent.post(`${fulda}/ablehnen`).type('form').send({ _csrf: csrf, reason: 'Die Fördersumme stimmt nicht mit dem Beschluss des Kreistags überein.' });
    assert.equal(declined.status, 200);
    assert.match(declined.text, /Sie haben die Vereinbarung abgelehnt/);
    assert.equal(fx.ctx.svc.snapshot(env[FULDA]!).envelope.status, 'declined');

    // Cancel Stadt Kassel (Oliver Scholz's link was valid before).
    const scholz = linkPath(SCHOLZ);
    assert.equal((await request(fx.app).get(scholz)).status, 200);
    await fx.ctx.svc.cancel(env[STADT_KASSEL]!, 'Test', 'Test');

    const unknown = `/sign/${randomBytes(32).toString('base64url')}`;
    const pages = await Promise.all([unknown, linkPath(RATHGEBER), fulda, scholz].map((p) => request(fx.app).get(p)));
    for (const p of pages) {
      assert.equal(p.status, 410);
      assert.ok(p.text.includes(NEUTRAL_REFUSAL));
      assert.doesNotMatch(p.text, /Hauptnavigation|Abmelden|Startseite/);
    }
    assert.ok(pages.every((p) => p.text === pages[0]!.text), 'identical pages');
    const pdfs = await Promise.all([unknown, fulda, scholz].map((p) => request(fx.app).get(`${p}/dokument.pdf`)));
    for (const p of pdfs) assert.equal(p.status, 410, 'no document for unknown, declined, cancelled links');
    assert.equal((await request(fx.app).get(`${linkPath(SIEBERT)}/dokument.pdf`)).status, 200, 'a used link still downloads');
    const malformed = await request(fx.app).get('/sign/abc');
    assert.equal(malformed.status, 404);
    assert.ok(malformed.text.includes(NEUTRAL_REFUSAL));
    const api = await request(fx.app).get(`/api/v1/sign/${tokenOf(unknown)}`);
    assert.equal(api.status, 410);
    assert.equal(api.body.detail, NEUTRAL_REFUSAL);
  });

  test('the log never contains a token', () => {
    const links = [RATHGEBER, KRAUSE, SIEBERT, ENGLER, SCHOLZ].map((e) => tokenOf(linkPath(e)));
    const log = fx.logLines.join('\n');
    assert.ok(log.includes('/sign/[redacted]'), 'requests are logged, redacted');
    for (const t of links) assert.ok(!log.includes(t), 'token in the log');
  });
});

