/**
 * Font programs a preflight accepts (issue 15): every font embedded in an agreement, in a signed
 * copy (the stamps' fonts) and in a Signaturprotokoll is a subset that keeps the tables a complete
 * TrueType program has (cmap, OS/2, name, post next to the glyph tables), carries an ABCDEF+ subset
 * tag, has /W widths equal to the program's own advances and a ToUnicode entry for every glyph.
 * Checked with @pdf-lib/fontkit on the extracted FontFile2 streams, and with poppler (pdffonts,
 * pdftotext) and qpdf.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fontkit from '@pdf-lib/fontkit';
import { decodePDFRawStream, PDFArray, PDFDict, PDFDocument, PDFName, PDFRawStream, PDFRef } from 'pdf-lib';
import type { PDFObject } from 'pdf-lib';
import { renderAuditReport } from '../src/envelope/report-pdf.ts';
import type { AuditReportData } from '../src/envelope/report-pdf.ts';
import { embedSubsetFont } from '../src/render/pdf/embed-font.ts';
import { loadResources } from '../src/render/pdf/fonts.ts';
import { KeyStore } from '../src/sign/keys.ts';
import { signAgreement } from '../src/sign/sign.ts';
import { agreementPdf, AQB_EXAMPLE, PASSPHRASE } from './helpers/signing.ts';
import { run, tempDir } from './helpers/tools.ts';
import { compareWords, normaliseLines, until, words } from './helpers/words.ts';
import { parseCidWidths, parseToUnicode } from '../scripts/typeset-report.ts';

const REFERENCE = new URL('../../shared/reference/aqb-2023-werra-meissner-kreis.txt', import.meta.url).pathname;
const REQUIRED_TABLES = ['cmap', 'OS/2', 'name', 'post', 'glyf', 'loca', 'head', 'hhea', 'hmtx', 'maxp'];

interface EmbeddedFont {
  baseFont: string;
  program: Uint8Array;
  /** CID → width from the descendant's /W array. */
  widths: Map<number, number>;
  /** CID → text from the ToUnicode CMap. */
  toUnicode: Map<number, string>;
  cidToGid: string;
}

const tmp = tempDir('zv-fonts-');
const files: Record<'agreement' | 'signed' | 'report', string> = { agreement: '', signed: '', report: '' };

before(async () => {
  const agreement = await agreementPdf(AQB_EXAMPLE);
  const keys = KeyStore.open(join(tmp.dir, 'keys'), PASSPHRASE);
  await keys.init();
  const opts = { signer: (p: Parameters<KeyStore['signerFor']>[0], at: Date) => keys.signerFor(p, { at }), date: '2023-05-30', backdateReason: 'Datum der Vereinbarung (Test)' };
  let signed = (await signAgreement(agreement, { ...opts, signatory: { party: 'ministry', index: 1 } })).bytes;
  signed = (await signAgreement(signed, { ...opts, signatory: { party: 'partner', index: 1 } })).bytes;
  const report = await renderAuditReport(reportData());
  for (const [name, bytes] of [['agreement', agreement], ['signed', signed], ['report', report]] as const) {
    files[name] = join(tmp.dir, `${name}.pdf`);
    writeFileSync(files[name], bytes);
  }
});
after(() => tmp.cleanup());

/** A completed envelope in all three styles of the protocol (headings bold, footer italic). */
function reportData(): AuditReportData {
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  const events = [
    { seq: 1, at: '2023-05-22T08:00:00Z', type: 'created', typeLabel: 'Umschlag erstellt', actor: 'Sachbearbeiterin Jana Weiß', details: 'Umschlag für die Zielvereinbarung angelegt — „Entwurf“ § 3 Abs. 2.', docBefore: null, docAfter: h('draft'), prevHash: '0'.repeat(64), hash: h('e1') },
    { seq: 2, at: '2023-05-23T09:20:01Z', type: 'signed', typeLabel: 'Unterschrieben', actor: 'Heike Hofmann', details: 'PAdES-Signatur hinzugefügt; 1.341.400 Euro, Straße über Öl & Ähren.', docBefore: h('draft'), docAfter: h('signed'), prevHash: h('e1'), hash: h('e2') },
  ];
  return {
    envelopeId: 'env_fonts-test',
    agreement: { title: 'Zielvereinbarung AQB 2023 – Werra-Meißner-Kreis', type: 'aqb', year: 2023, partnerName: 'Werra-Meißner-Kreis', amountText: '1.341.400 Euro', version: 1, edition: 'AQB 2023', agreementId: 'aqb-2023-werra-meissner-kreis' },
    status: 'unterzeichnet',
    generatedAt: '2023-12-01T10:00:00Z',
    documents: [{ label: 'Signiertes Dokument', fileName: 'aqb-2023-werra-meissner-kreis.pdf', sha256: h('signed'), size: 187_342 }],
    signatories: [{ position: 1, name: 'Heike Hofmann', role: 'Staatsministerin', party: 'Ministerium', email: 'heike.hofmann@hsm.hessen.de', status: 'unterzeichnet', signedAt: '2023-05-23T09:20:01Z', place: 'Wiesbaden', date: '2023-05-23' }],
    events,
    chain: { ok: true, head: h('e2'), text: 'Hash-Kette vollständig und unverändert (2 Ereignisse)' },
  };
}

function deref(doc: PDFDocument, o: PDFObject | undefined): PDFObject | undefined {
  return o instanceof PDFRef ? doc.context.lookup(o) : o;
}

function streamBytes(doc: PDFDocument, o: PDFObject | undefined): Uint8Array {
  const s = deref(doc, o);
  assert.ok(s instanceof PDFRawStream, 'a stream');
  return decodePDFRawStream(s).decode();
}

/** Every Type0 font of the file (all revisions' objects: pdf-lib reads the incremental updates). */
async function embeddedFonts(path: string): Promise<EmbeddedFont[]> {
  const doc = await PDFDocument.load(readFileSync(path), { updateMetadata: false });
  const fonts: EmbeddedFont[] = [];
  for (const [, obj] of doc.context.enumerateIndirectObjects()) {
    if (!(obj instanceof PDFDict) || obj.get(PDFName.of('Subtype'))?.toString() !== '/Type0') continue;
    const baseFont = obj.get(PDFName.of('BaseFont'))!.toString().slice(1);
    const cid = deref(doc, (deref(doc, obj.get(PDFName.of('DescendantFonts'))) as PDFArray).get(0)) as PDFDict;
    const descriptor = deref(doc, cid.get(PDFName.of('FontDescriptor'))) as PDFDict;
    fonts.push({
      baseFont,
      program: streamBytes(doc, descriptor.get(PDFName.of('FontFile2'))),
      widths: parseCidWidths(doc, deref(doc, cid.get(PDFName.of('W'))) as PDFArray),
      toUnicode: parseToUnicode(Buffer.from(streamBytes(doc, obj.get(PDFName.of('ToUnicode')))).toString('latin1')),
      cidToGid: String(cid.get(PDFName.of('CIDToGIDMap'))),
    });
  }
  return fonts;
}

const FILES = ['agreement', 'signed', 'report'] as const;

for (const name of FILES) {
  test(`${name}: every embedded font program keeps cmap, OS/2, name, post and the glyph tables`, async () => {
    const fonts = await embeddedFonts(files[name]);
    assert.ok(fonts.length >= 2, `${name}: fonts found (${fonts.length})`);
    for (const f of fonts) {
      const ttf = fontkit.create(f.program);
      const tables = Object.keys((ttf as unknown as { directory: { tables: Record<string, unknown> } }).directory.tables);
      for (const t of REQUIRED_TABLES) assert.ok(tables.includes(t), `${name} ${f.baseFont}: table ${t} missing (has ${tables.join(', ')})`);
      assert.equal(ttf.postscriptName, f.baseFont.slice(7), `${name} ${f.baseFont}: the name table names the font`);
      // FreeType (through fontconfig) reads the same program: family from name, vendor from OS/2, a charset from cmap.
      const file = join(tmp.dir, `${f.baseFont}.ttf`);
      writeFileSync(file, f.program);
      const q = run('fc-query', [file]);
      assert.match(q, /family: "Liberation Sans"/, `${f.baseFont}: fc-query family`);
      assert.match(q, /foundry: "1ASC"/, `${f.baseFont}: fc-query foundry (OS/2 achVendID)`);
      assert.match(q, /fontformat: "TrueType"/);
      assert.match(q, /postscriptname: "LiberationSans/);
      assert.match(q, /charset:\s*\n\s*0000: /, `${f.baseFont}: fc-query charset (cmap)`);
    }
  });

  test(`${name}: subset tags ABCDEF+, one font program per name`, async () => {
    const fonts = await embeddedFonts(files[name]);
    const programs = new Map<string, Set<string>>();
    for (const f of fonts) {
      assert.match(f.baseFont, /^[A-Z]{6}\+/, `${name}: BaseFont ${f.baseFont}`);
      const set = programs.get(f.baseFont) ?? new Set();
      set.add(createHash('sha256').update(f.program).digest('hex'));
      programs.set(f.baseFont, set);
    }
    for (const [font, set] of programs) assert.equal(set.size, 1, `${name}: ${font} names ${set.size} different font programs`);
  });

  test(`${name}: /W widths are the program's advances, every glyph has a ToUnicode entry the program's cmap agrees with`, async () => {
    for (const f of await embeddedFonts(files[name])) {
      assert.equal(f.cidToGid, '/Identity');
      const ttf = fontkit.create(f.program);
      assert.ok(f.widths.size > 0, `${f.baseFont}: widths`);
      for (const [cid, w] of f.widths) {
        assert.ok(cid < ttf.numGlyphs, `${f.baseFont}: CID ${cid} beyond the program's ${ttf.numGlyphs} glyphs`);
        const advance = (ttf.getGlyph(cid).advanceWidth * 1000) / ttf.unitsPerEm;
        assert.ok(Math.abs(advance - w) < 0.01, `${f.baseFont}: CID ${cid} /W ${w}, program ${advance}`);
        const text = f.toUnicode.get(cid);
        assert.ok(text !== undefined && text !== '', `${f.baseFont}: CID ${cid} has no ToUnicode entry`);
        // A single character the program's cmap knows maps to the same glyph (else it is a glyph reached otherwise, e.g. .notdef).
        const cps = [...text];
        if (cps.length === 1 && cid !== 0) assert.equal(ttf.glyphForCodePoint(text.codePointAt(0)!).id, cid, `${f.baseFont}: cmap of U+${text.codePointAt(0)!.toString(16)}`);
        if (/\S/.test(text)) assert.ok(ttf.getGlyph(cid).path.toSVG() !== '', `${f.baseFont}: glyph ${cid} (${text}) has an outline`);
      }
    }
  });

  test(`${name}: pdffonts lists every font as embedded, subset, with ToUnicode; qpdf --check passes`, () => {
    const rows = run('pdffonts', [files[name]]).trim().split('\n').slice(2);
    assert.ok(rows.length >= 2, `${name}: ${rows.length} fonts`);
    for (const row of rows) assert.match(row, /^[A-Z]{6}\+\S+\s+CID TrueType\s+Identity-H\s+yes yes yes\s/, `${name}: ${row}`);
    assert.match(run('qpdf', ['--check', files[name]]), /No syntax or stream encoding errors found/);
  });
}

test('signed copy: the stamps bring their own tags, none of the agreement\'s', async () => {
  const base = new Set((await embeddedFonts(files.agreement)).map((f) => f.baseFont));
  const stamps = (await embeddedFonts(files.signed)).map((f) => f.baseFont).filter((n) => !base.has(n));
  assert.ok(stamps.length >= 2, `stamp fonts: ${stamps.join(', ')}`);
  for (const n of stamps) assert.doesNotMatch(n, /^Z/, `stamp font ${n} uses the fixed tables' prefix`);
});

test('agreement: pdftotext gives the reference words (the new font programs change no text)', () => {
  const actual = normaliseLines(run('pdftotext', ['-enc', 'UTF-8', files.agreement, '-']));
  const reference = normaliseLines(readFileSync(REFERENCE, 'utf8'));
  const body = (lines: string[]) => until(lines, /^Wiesbaden, den/);
  const cmp = compareWords(words(body(reference)), words(body(actual)));
  assert.equal(cmp.ratio, 1, cmp.differences.join(' | '));
  assert.doesNotMatch(actual.join('\n'), /[?\uFFFD]/);
});

test('a soft hyphen is drawn with the font\'s own U+00AD glyph and reads back as U+00AD', async () => {
  const face = loadResources().faces.regular;
  const doc = await PDFDocument.create({ updateMetadata: false });
  const font = embedSubsetFont(doc, face, 'ZZTEST');
  const page = doc.addPage([300, 100]);
  page.drawText('Ausbil\u00AD', { x: 10, y: 50, size: 12, font: font.pdf });
  const path = join(tmp.dir, 'soft-hyphen.pdf');
  writeFileSync(path, await doc.save({ useObjectStreams: false }));
  const hyphen = face.font.glyphForCodePoint(0xad);
  assert.notEqual(hyphen.id, face.font.glyphForCodePoint(0x2d).id, 'Liberation has a glyph of its own for U+00AD');
  assert.equal(font.encode('Ausbil\u00AD').at(-1), hyphen.id.toString(16).toUpperCase().padStart(4, '0'));
  assert.ok(face.width('Ausbil\u00AD', 12) > face.width('Ausbil', 12), 'the hyphen has a width');
  const [f] = await embeddedFonts(path);
  assert.equal(f!.toUnicode.get(hyphen.id), '\u00AD');
  assert.ok(fontkit.create(f!.program).getGlyph(hyphen.id).path.toSVG() !== '', 'the subset keeps its outline');
  // pdftotext maps the glyph through ToUnicode: the word and its soft hyphen, no hard hyphen-minus.
  const text = run('pdftotext', ['-enc', 'UTF-8', path, '-']);
  assert.match(text, /Ausbil\u00AD/);
});

test('same input, same bytes (subset, tags and ToUnicode are deterministic)', async () => {
  const a = await agreementPdf(AQB_EXAMPLE);
  const b = await agreementPdf(AQB_EXAMPLE);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  assert.ok(Buffer.from(a).equals(readFileSync(files.agreement)));
});
