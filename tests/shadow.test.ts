/**
 * Only our own drafts get signed — shadow attacks (Mainka, Mladenov, Rohlmann, NDSS 2021) on the
 * AQB agreement with the Werra-Meißner-Kreis (444.000 €):
 *
 *   hide              an overlay annotation shows "44.000 €" over "444.000 €" (after signing it is removed again),
 *   replace           an extra text field shows "444.000 €"; after signing its value becomes "44.000 €",
 *   hide-and-replace  a second page content, defined in the draft but listed in no cross-reference
 *                     section, is brought into view after signing by an update that only adds an xref entry.
 *
 * Zielwerk's signer refuses each doctored draft (library, CLI, with and without a registered
 * draft); a tool that does not check signs them, poppler's pdfsig calls those signatures valid,
 * and `zv verify` names what the generator does not make.
 */
import { localFirst, trustConfig } from '../src/sign/trust-config.ts';
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PDF, PdfArray, PdfDict, PdfName, PdfNumber, PdfString, PdfStream } from '@libpdf/core';
import { KeyStore } from '../src/sign/keys.ts';
import { RevocationFetcher } from '../src/sign/revocation.ts';
import type { SigningIdentity } from '../src/sign/identity.ts';
import { verifyAgreement, type VerifyReport } from '../src/sign/verify.ts';
import { checkExternalSignature, UploadRefusedError } from '../src/sign/external.ts';
import { agreementPdf, AQB_EXAMPLE, PASSPHRASE, signWith, testStore, zv } from './helpers/signing.ts';
import { signFieldByHand } from './helpers/craft.ts';
import { nssTrusting, pdfsig } from './helpers/validators.ts';
import { run, tempDir } from './helpers/tools.ts';
import { openService, openYear } from './helpers/year.ts';
import { startPkiResponder, type PkiResponder } from './helpers/pki-responder.ts';

const tmp = tempDir('zv-shadow-');
const ARTIFACTS = new URL('./artifacts/shadow/', import.meta.url).pathname;
let draft: Uint8Array;
let store: KeyStore;
let caDer: Uint8Array;
let nss: string;
let minister: SigningIdentity;
/** Where "444.000" is printed: page index and rectangle in PDF coordinates. */
let amount: { page: number; rect: [number, number, number, number] };

let pki: PkiResponder;

before(async () => {
  draft = await agreementPdf(AQB_EXAMPLE);
  // pdfsig (NSS) asks the OCSP responder the minister's certificate names: it answers from this data directory.
  pki = await startPkiResponder();
  const made = await testStore(tmp.dir);
  store = made.store;
  caDer = made.caDer;
  nss = nssTrusting(tmp.dir, [{ nick: 'demo-ca', pem: made.caPem }]);
  minister = await KeyStore.open(tmp.dir, PASSPHRASE, undefined, { baseUrl: pki.baseUrlFor(tmp.dir) }).identityFor({ name: 'Kai Klose', role: 'Staatsminister', organisation: 'HMSI' });
  amount = findWord(draft, '444.000');
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await pki?.close();
  tmp.cleanup();
});

/** The page and PDF rectangle of a printed word, from poppler's pdftotext -bbox. */
function findWord(bytes: Uint8Array, word: string): { page: number; rect: [number, number, number, number] } {
  const file = join(tmp.dir, `words-${Math.random().toString(36).slice(2)}.pdf`);
  writeFileSync(file, bytes);
  const pages = run('pdftotext', ['-bbox', file, '-']).split('<page ').slice(1);
  for (const [i, p] of pages.entries()) {
    const height = Number(/height="([\d.]+)"/.exec(p)![1]);
    const m = new RegExp(`<word xMin="([\\d.]+)" yMin="([\\d.]+)" xMax="([\\d.]+)" yMax="([\\d.]+)">${word.replace('.', '\\.')}</word>`).exec(p);
    if (m) return { page: i, rect: [Number(m[1]), height - Number(m[4]), Number(m[3]), height - Number(m[2])] };
  }
  throw new Error(`${word} not found`);
}

const text = (s: string) => new TextEncoder().encode(s);
const nums = (...n: number[]) => PdfArray.of(...n.map((v) => PdfNumber.of(v)));
const helvetica = () => PdfDict.of({ Font: PdfDict.of({ Helv: PdfDict.of({ Type: PdfName.of('Font'), Subtype: PdfName.of('Type1'), BaseFont: PdfName.of('Helvetica'), Encoding: PdfName.of('WinAnsiEncoding') }) }) });

/** A white box with `label` in it, sized to the amount: what an overlay or a text field shows. */
function box(pdf: PDF, label: string): PdfStream {
  const [x0, y0, x1, y1] = amount.rect;
  const w = x1 - x0 + 6;
  const h = y1 - y0 + 4;
  return pdf.register(
    new PdfStream([['Type', PdfName.of('XObject')], ['Subtype', PdfName.of('Form')], ['BBox', nums(0, 0, w, h)], ['Resources', helvetica()]] as never, text(`1 1 1 rg 0 0 ${w} ${h} re f 0 0 0 rg BT /Helv 11 Tf 2 3 Td (${label}) Tj ET`)),
  ) as unknown as PdfStream;
}

const overRect = () => nums(amount.rect[0] - 3, amount.rect[1] - 2, amount.rect[2] + 3, amount.rect[3] + 2);

async function update(bytes: Uint8Array, edit: (pdf: PDF) => void): Promise<Uint8Array> {
  const pdf = await PDF.load(bytes);
  edit(pdf);
  return pdf.save({ incremental: true });
}

interface Variant {
  name: string;
  doctor: (bytes: Uint8Array) => Promise<Uint8Array>;
  /** The attacker's step after the signature. */
  afterSigning: (signed: Uint8Array) => Promise<Uint8Array>;
  /** What verify must name in the signed revision. */
  finding: RegExp;
}

const hide: Variant = {
  name: 'hide',
  doctor: (bytes) =>
    update(bytes, (pdf) => {
      const page = pdf.getPages()[amount.page]!;
      const annot = PdfDict.of({ Type: PdfName.of('Annot'), Subtype: PdfName.of('FreeText'), Rect: overRect(), F: PdfNumber.of(4), DA: PdfString.fromString('/Helv 11 Tf 0 g'), Contents: PdfString.fromString('44.000'), AP: PdfDict.of({ N: box(pdf, '44.000') }) });
      page.dict.set('Annots', PdfArray.of(...((page.dict.getArray('Annots')?.toArray() ?? []) as never[]), pdf.register(annot)));
    }),
  afterSigning: (signed) =>
    update(signed, (pdf) => {
      const page = pdf.getPages()[amount.page]!;
      const kept = (page.dict.getArray('Annots')?.toArray() ?? []).filter((a) => (pdf.getObject(a as never) as PdfDict | null)?.getName('Subtype')?.value !== 'FreeText');
      page.dict.set('Annots', PdfArray.of(...(kept as never[])));
    }),
  finding: /in the signed revision: annotation \/FreeText on page \d+ — an annotation Zielwerk does not generate/,
};

const replace: Variant = {
  name: 'replace',
  doctor: (bytes) =>
    update(bytes, (pdf) => {
      const page = pdf.getPages()[amount.page]!;
      const field = pdf.register(
        PdfDict.of({ Type: PdfName.of('Annot'), Subtype: PdfName.of('Widget'), FT: PdfName.of('Tx'), T: PdfString.fromString('betrag'), V: PdfString.fromString('444.000'), Rect: overRect(), F: PdfNumber.of(4), DA: PdfString.fromString('/Helv 11 Tf 0 g'), AP: PdfDict.of({ N: box(pdf, '444.000') }), P: page.ref }),
      );
      page.dict.set('Annots', PdfArray.of(...((page.dict.getArray('Annots')?.toArray() ?? []) as never[]), field));
      const form = pdf.getObject(pdf.getCatalog().get('AcroForm') as never) as PdfDict;
      form.set('Fields', PdfArray.of(...((form.getArray('Fields')?.toArray() ?? []) as never[]), field));
    }),
  afterSigning: (signed) =>
    update(signed, (pdf) => {
      const form = pdf.getObject(pdf.getCatalog().get('AcroForm') as never) as PdfDict;
      for (const ref of form.getArray('Fields')!.toArray()) {
        const f = pdf.getObject(ref as never) as PdfDict;
        if (f.getString('T')?.asString() !== 'betrag') continue;
        f.set('V', PdfString.fromString('44.000'));
        f.set('AP', PdfDict.of({ N: box(pdf, '44.000') }));
      }
    }),
  finding: /in the signed revision: form field betrag \(\/Tx\) — a field Zielwerk does not generate/,
};

/** Page `amount.page`'s content stream object (number, decoded text). */
async function contentOf(bytes: Uint8Array): Promise<{ number: number; content: string }> {
  const pdf = await PDF.load(bytes);
  const ref = pdf.getPages()[amount.page]!.dict.get('Contents') as unknown as { objectNumber: number };
  const stream = pdf.getObject(ref as never) as PdfStream;
  return { number: ref.objectNumber, content: Buffer.from(stream.getDecodedData()).toString('latin1') };
}

/** Appends raw bytes plus a classic cross-reference section with `entries` (object number → offset), chained to the previous one. */
function appendRawUpdate(bytes: Uint8Array, body: string, entries: Array<[number, number]>): Uint8Array {
  const old = Buffer.from(bytes).toString('latin1');
  const prev = Number([...old.matchAll(/startxref\s+(\d+)/g)].at(-1)![1]);
  const trailer = /trailer\s*<<([\s\S]*?)>>\s*startxref/.exec(old.slice(old.lastIndexOf('trailer')))![1]!.replace(/\/Prev\s+\d+/, '');
  const start = bytes.length + 1 + body.length;
  const rows = entries.map(([n, off]) => `xref\n${n} 1\n${String(off).padStart(10, '0')} 00000 n \n`).join('') || 'xref\n0 1\n0000000000 65535 f \n';
  const tail = `${rows}trailer\n<<${trailer} /Prev ${prev} >>\nstartxref\n${start}\n%%EOF\n`;
  return new Uint8Array(Buffer.concat([Buffer.from(bytes), Buffer.from(`\n${body}${tail}`, 'latin1')]));
}

let deadOffset = 0;
const hideAndReplace: Variant = {
  name: 'hide-and-replace',
  async doctor(bytes) {
    // A second definition of the page's content object, with the amount changed, that no xref lists.
    const { number, content } = await contentOf(bytes);
    // The text is drawn as glyph ids: "444.000" is <4 4 4 . 0 0 0>; one "4" fewer reads "44.000".
    const changed = content.replace(/<(([0-9a-f]{4})\2\2)([0-9a-f]{4})(([0-9a-f]{4})\5\5)/i, (_m, _fours, four: string, dot: string, zeros: string) => `<${four}${four}${dot}${zeros}`);
    assert.notEqual(changed, content, 'the content shows the amount');
    const body = `${number} 0 obj\n<< /Length ${changed.length} >>\nstream\n${changed}\nendstream\nendobj\n`;
    deadOffset = bytes.length + 1;
    return appendRawUpdate(bytes, body, []);
  },
  async afterSigning(signed) {
    // The attacker's update writes no object at all: one xref entry points the content at the hidden one.
    const { number } = await contentOf(signed);
    return appendRawUpdate(signed, '', [[number, deadOffset]]);
  },
  finding: /in the signed revision: object \d+ at byte \d+ — defined in the file but listed in no cross-reference section/,
};

const VARIANTS = [hide, replace, hideAndReplace];

/** Signs the ministry's field with a tool that checks nothing (a correct CMS over the byte range). */
const signUnchecked = (bytes: Uint8Array) => signFieldByHand(bytes, { field: 0, certificate: minister.certificate, privateKey: minister.privateKey, chain: minister.chain });
const verify = (bytes: Uint8Array): Promise<VerifyReport> => verifyAgreement(bytes, { trust: [caDer], skipReproduction: true, revocation: new RevocationFetcher({ local: store.localRevocation() }) });

describe('shadow attacks', () => {
  test('Zielwerk refuses to sign a doctored draft: library and zv sign, for every variant, rewritten or updated', async () => {
    for (const v of VARIANTS) {
      const doctored = await v.doctor(draft);
      await assert.rejects(signWith(store, doctored, 'ministry:1'), /changed since Zielwerk generated it beyond signatures .*nothing was signed/, v.name);
      const file = join(tmp.dir, `${v.name}.pdf`);
      writeFileSync(file, doctored);
      const cli = await zv(['sign', file, '--signatory', 'ministry:1', '--out', join(tmp.dir, `${v.name}-signed.pdf`), '--data', tmp.dir]);
      assert.equal(cli.code, 1, `${v.name}: ${cli.stdout}`);
      assert.match(cli.stderr, /changed since Zielwerk generated it beyond signatures/, v.name);
    }
    // The overlay written into a rewritten file (no incremental update): the first revision itself is foreign.
    const updated = join(tmp.dir, 'hide-updated.pdf');
    writeFileSync(updated, await hide.doctor(draft));
    run('qpdf', [updated, join(tmp.dir, 'hide-rewritten.pdf')]);
    const rewritten = new Uint8Array(readFileSync(join(tmp.dir, 'hide-rewritten.pdf')));
    await assert.rejects(signWith(store, rewritten, 'ministry:1'), /first revision is not a draft Zielwerk generated: it differs from what its embedded data renders to with Zielwerk \d+\.\d+\.\d+/);
    // And the genuine draft signs.
    assert.ok((await signWith(store, draft, 'ministry:1')).bytes.length > draft.length);
  });

  test('with a data directory, zv sign takes the registered draft as the reference; a doctored copy of it is refused', async () => {
    const data = join(tmp.dir, 'data');
    await openYear(data, ['werra-meissner-kreis']);
    const svc = openService(data);
    let registered: Uint8Array;
    try {
      const snap = svc.listEnvelopes({})[0]!;
      registered = new Uint8Array(readFileSync(join(data, (svc.store.db.prepare('SELECT path FROM files WHERE id = ?').pluck().get(snap.agreement.pdf_file_id) as string))));
    } finally {
      svc.close();
    }
    const doctored = join(tmp.dir, 'registered-doctored.pdf');
    writeFileSync(doctored, await replace.doctor(registered));
    const refused = await zv(['sign', doctored, '--signatory', 'ministry:1', '--out', join(tmp.dir, 'x.pdf'), '--data', data]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /form field betrag \(\/Tx\): a field Zielwerk does not generate/);
    const genuine = join(tmp.dir, 'registered.pdf');
    writeFileSync(genuine, registered);
    const ok = await zv(['sign', genuine, '--signatory', 'ministry:1', '--out', join(tmp.dir, 'registered-signed.pdf'), '--data', data]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  for (const v of VARIANTS) {
    test(`${v.name}: signed by a tool that does not check, pdfsig calls it valid; zv verify names the foreign content, before and after the attacker's update`, async () => {
      const signed = await signUnchecked(await v.doctor(draft));
      const file = join(tmp.dir, `${v.name}-unchecked.pdf`);
      writeFileSync(file, signed);
      const poppler = pdfsig(file, nss);
      assert.deepEqual(poppler.map((s) => [s.field, s.valid, s.trusted]), [['sig-ministry-1', true, true]], 'pdfsig: the signature itself is sound');

      const r = await verify(signed);
      const s = r.signatures[0]!;
      assert.deepEqual([s.indication, s.subIndication, s.checks.onlyGeneratorContent], ['TOTAL_FAILED', 'FORMAT_FAILURE', false], JSON.stringify(s.problems));
      assert.ok(s.problems.some((p) => v.finding.test(p)), s.problems.join('\n'));
      assert.equal(r.verdict, 'invalid');

      const attacked = await v.afterSigning(signed);
      const a = await verify(attacked);
      assert.equal(a.signatures[0]!.indication, 'TOTAL_FAILED');
      assert.ok(a.signatures[0]!.problems.some((p) => /modified after signature/.test(p)), a.signatures[0]!.problems.join('\n'));
      const attackedFile = join(tmp.dir, `${v.name}-attacked.pdf`);
      writeFileSync(attackedFile, attacked);
      // What the reader sees after the attack: the amount is no longer 444.000 € (except for the overlay removal, which reveals the truth again).
      const cli = await zv(['verify', attackedFile, '--data', tmp.dir]);
      assert.equal(cli.code, 1);
      if (v === hideAndReplace) {
        assert.match(run('pdftotext', ['-f', String(amount.page + 1), '-l', String(amount.page + 1), attackedFile, '-']), /44\.000/);
        run('pdftoppm', ['-f', String(amount.page + 1), '-l', String(amount.page + 1), '-r', '60', '-png', attackedFile, join(ARTIFACTS, 'hide-and-replace-attacked')]);
      }
      if (v === hide) run('pdftoppm', ['-f', String(amount.page + 1), '-l', String(amount.page + 1), '-r', '60', '-png', file, join(ARTIFACTS, 'hide-overlay-signed')]);
    });
  }

  test('an upload whose signing update carries a hidden object is refused, in German', async () => {
    const sent = (await signWith(store, draft, 'ministry:1')).bytes;
    const landraetin = await store.identityFor({ name: 'Nicole Rathgeber', role: 'Landrätin', organisation: 'Werra-Meißner-Kreis' });
    const upload = await signFieldByHand(await hideAndReplace.doctor(sent), { field: 1, certificate: landraetin.certificate, privateKey: landraetin.privateKey, chain: landraetin.chain });
    // The demo CA's OCSP answered in-process, as the service does.
    const trust = { ...trustConfig(store, null), revocation: localFirst(store, new RevocationFetcher()) };
    await assert.rejects(checkExternalSignature(sent, upload, { signatory: { party: 'partner', index: 1 }, trust }), (e: Error) => {
      assert.ok(e instanceof UploadRefusedError, e.message);
      assert.match(e.message, /Die signierte Datei enthält, was Zielwerk nicht erzeugt \(object \d+ at byte \d+: defined in the file but listed in no cross-reference section/);
      return true;
    });
    // The same signature without the hidden object is accepted.
    const clean = await signFieldByHand(sent, { field: 1, certificate: landraetin.certificate, privateKey: landraetin.privateKey, chain: landraetin.chain });
    assert.match((await checkExternalSignature(sent, clean, { signatory: { party: 'partner', index: 1 }, trust })).subject, /CN=Nicole Rathgeber/);
  });

  test("Zielwerk's own signatures hold nothing foreign", async () => {
    const ministry = (await signWith(store, draft, 'ministry:1')).bytes;
    const both = (await signWith(store, ministry, 'partner:1')).bytes;
    const r = await verify(both);
    assert.deepEqual(r.signatures.map((s) => [s.indication, s.foreignContent.length]), [['TOTAL_PASSED', 0], ['TOTAL_PASSED', 0]]);
  });
});
