/**
 * PDF renderer tests: structure (qpdf, pdffonts, PDF/A bits), text extraction (pdftotext, incl.
 * dehyphenation via ActualText), rendering (pdftoppm), attachments (pdfdetach), signature fields,
 * pagination rules, margins and determinism. Each variant is rendered once and shared.
 */
import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFNumber, PDFRef, PDFStream, PDFString } from 'pdf-lib';
import type { Block, DocumentTree, ListItem } from '../src/document/tree.ts';
import { breakPoints, layoutPdf, PAGE, parseSigningMetadata, renderPdf } from '../src/render/pdf/index.ts';
import type { Layout } from '../src/render/pdf/index.ts';
import { sampleTree } from './fixtures/sample-tree.ts';
import { run, tempDir } from './helpers/tools.ts';

// ---------------------------------------------------------------------------------------------
// Variants

const LONG_ITEM =
  'Weiterbildungsmaßnahmen für Personal der Landkreise und kreisfreien Städte in der fachlichen Verantwortung für Benachteiligte im Kontext der Arbeitsmarktförderung: ' +
  'https://www.arbeitswelt.hessen.de/' +
  'foerderprogramme/ausbildungs-und-qualifizierungsbudget/'.repeat(3) +
  'x'.repeat(40) +
  ' sowie das „Bündnis für Ausbildung“ – § 5 – 1.000 € Straße ÄÖÜ äöü.';

/** Sample tree plus special characters, a 300-char item with an unbreakable token, and a 200-item list. */
function stressTree(): DocumentTree {
  const tree = sampleTree(3, 0);
  const items: ListItem[] = Array.from({ length: 200 }, (_, i) => ({
    runs: [{ text: `Projekt Nummer ${i + 1}${i % 23 === 0 ? ' mit einer längeren Beschreibung, die über mehrere Zeilen umbrechen muss, damit hängende Einzüge und die Silbentrennung von Qualifizierungsmaßnahmen geprüft werden' : ''}` }],
    children:
      i % 60 === 5
        ? { kind: 'list', ordered: false, items: [{ runs: [{ text: 'Unterpunkt' }], children: { kind: 'list', ordered: true, start: 3, items: [{ runs: [{ text: 'Unter-Unterpunkt' }] }] } }] }
        : undefined,
  }));
  const extra: Block[] = [
    { kind: 'paragraph', runs: [{ text: 'Sonderzeichen: „Bündnis für Ausbildung“ – § 5 – 444.000 € – Maß, Straße, ÄÖÜ äöü ß.' }] },
    { kind: 'list', ordered: true, start: 7, items: [{ runs: [{ text: LONG_ITEM }] }] },
    { kind: 'list', ordered: true, items },
  ];
  tree.blocks.splice(tree.blocks.length - 1, 0, ...extra);
  return tree;
}

/**
 * Paragraphs chosen (by trial layout) so that lines break right after a word ending in '-'
 * ("Ausbildungs-" before "und") and after the hard hyphen inside "Werra-Meißner-Kreises" —
 * the two cases where poppler would otherwise glue lines together.
 */
function hyphenBreakParagraphs(): { tail?: string; hard?: string } {
  const words = sampleTree(1).blocks.flatMap((b) => (b.kind === 'paragraph' ? b.runs.map((x) => x.text) : [])).join(' ').split(' ');
  const found: { tail?: string; hard?: string } = {};
  for (let k = 1; k < 80 && !(found.tail && found.hard); k++) {
    const text = `${words.slice(0, k).join(' ')} im Ausbildungs- und Qualifizierungsbudget des Werra-Meißner-Kreises und weitere Worte zum Schluss.`;
    const tree = sampleTree(1);
    tree.blocks = [{ kind: 'paragraph', runs: [{ text }] }];
    for (const p of layoutPdf(tree).pages)
      for (const line of p.items) {
        if (line.kind !== 'text' || line.y < PAGE.marginBottom) continue;
        const visible = line.pieces.map((x) => x.text).join('').trimEnd(); // a line ending between words draws its space
        if (!found.tail && visible.endsWith(' Ausbildungs-')) found.tail = text;
        if (!found.hard && visible.endsWith(' Werra-')) found.hard = text;
      }
  }
  return found;
}

interface Rendered {
  name: string;
  tree: DocumentTree;
  bytes: Uint8Array;
  file: string;
  layout: Layout;
}

let tmp: { dir: string; cleanup: () => void };
const r: Record<string, Rendered> = {};
let straddleExtra = -1;

async function renderVariant(name: string, tree: DocumentTree): Promise<Rendered> {
  const bytes = await renderPdf(tree);
  const file = join(tmp.dir, `${name}.pdf`);
  writeFileSync(file, bytes);
  return { name, tree, bytes, file, layout: layoutPdf(tree) };
}

/** Page index (0-based) of the signature block in a layout. */
function signaturePage(layout: Layout): number {
  return layout.pages.findIndex((p) => p.items.some((i) => i.kind === 'signature-slot'));
}

before(async () => {
  tmp = tempDir('zv-pdf-');
  for (const n of [1, 2, 3]) r[`p${n}`] = await renderVariant(`p${n}`, sampleTree(n));
  r.stress = await renderVariant('stress', stressTree());
  const hb = hyphenBreakParagraphs();
  if (hb.tail && hb.hard) {
    const breaks = sampleTree(2);
    breaks.blocks.splice(2, 0, { kind: 'paragraph', runs: [{ text: hb.tail }] }, { kind: 'paragraph', runs: [{ text: hb.hard }] });
    r.breaks = await renderVariant('breaks', breaks);
  }
  // Find an extraParagraphs count where the signature block would straddle a page break: the
  // previous page still has room for its beginning, yet the block starts the next page.
  for (let extra = 0; extra <= 30 && straddleExtra < 0; extra++) {
    const layout = layoutPdf(sampleTree(3, extra));
    const s = signaturePage(layout);
    // The block takes the last lines of the text along, so it follows at most a few lines on its new page.
    if (s < 1 || layout.pages[s]!.fragments.findIndex((f) => f.kind === 'signatures') > 2) continue;
    const prev = layout.pages[s - 1]!;
    const lowest = Math.min(...prev.items.filter((i) => i.kind === 'text' && i.y > PAGE.footerBaseline + 1).map((i) => (i.kind === 'text' ? i.y : Infinity)));
    if (lowest - PAGE.marginBottom > 100) straddleExtra = extra;
  }
  if (straddleExtra >= 0) r.straddle = await renderVariant('straddle', sampleTree(3, straddleExtra));
});

after(() => tmp?.cleanup());

// ---------------------------------------------------------------------------------------------
// Helpers around the poppler tools

const all = () => Object.values(r);

function pageCount(file: string): number {
  return Number(/Pages:\s+(\d+)/.exec(run('pdfinfo', [file]))![1]);
}

/** Extracted text with footers and line structure removed, whitespace collapsed. */
function normalizedText(file: string): string {
  return run('pdftotext', ['-enc', 'UTF-8', file, '-'])
    .replace(/Seite \d+ von \d+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

interface Word {
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
  text: string;
}

function bboxPages(file: string): { width: number; height: number; words: Word[] }[] {
  const html = run('pdftotext', ['-bbox', '-enc', 'UTF-8', file, '-']);
  const pages: { width: number; height: number; words: Word[] }[] = [];
  const re = /<page width="([\d.]+)" height="([\d.]+)">|<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">([^<]*)<\/word>/g;
  for (const m of html.matchAll(re)) {
    if (m[1]) pages.push({ width: Number(m[1]), height: Number(m[2]), words: [] });
    else
      pages[pages.length - 1]!.words.push({
        xMin: Number(m[3]),
        yMin: Number(m[4]),
        xMax: Number(m[5]),
        yMax: Number(m[6]),
        text: m[7]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&'),
      });
  }
  return pages;
}

function pageText(file: string, page: number): string {
  return run('pdftotext', ['-enc', 'UTF-8', '-f', String(page), '-l', String(page), file, '-']);
}

/** All texts a reader must get back verbatim: headings, title lines, paragraphs, list items. */
function expectedTexts(tree: DocumentTree): string[] {
  const out: string[] = [];
  const runs = (rs: { text: string }[]) => norm(rs.map((x) => x.text).join(''));
  const list = (items: ListItem[]) => {
    for (const it of items) {
      out.push(runs(it.runs));
      if (it.children) list(it.children.items);
    }
  };
  for (const b of tree.blocks) {
    if (b.kind === 'title') for (const l of b.lines) out.push(runs(l));
    else if (b.kind === 'heading' || b.kind === 'paragraph') out.push(runs(b.runs));
    else if (b.kind === 'list') list(b.items);
  }
  return out;
}

function signatories(tree: DocumentTree) {
  const b = tree.blocks.find((x) => x.kind === 'signatures');
  assert.ok(b && b.kind === 'signatures');
  return b.columns.flatMap((c) => c.signatories);
}

// ---------------------------------------------------------------------------------------------
// Structure

test('qpdf --check passes without warnings', () => {
  for (const v of all()) {
    const out = run('qpdf', ['--check', v.file]);
    assert.match(out, /No syntax or stream encoding errors found/, v.name);
    assert.doesNotMatch(out, /WARNING/i, v.name);
  }
});

test('pdffonts: every font embedded, subset, Type0/CID TrueType with ToUnicode', () => {
  for (const v of all()) {
    const rows = run('pdffonts', [v.file]).trim().split('\n').slice(2);
    assert.ok(rows.length >= 2, `${v.name}: regular and bold expected`);
    for (const row of rows) {
      const m = /^([A-Z]{6}\+\S+)\s+CID TrueType\s+Identity-H\s+(yes|no)\s+(yes|no)\s+(yes|no)/.exec(row);
      assert.ok(m, `${v.name}: unexpected font row ${row}`);
      assert.deepEqual([m[2], m[3], m[4]], ['yes', 'yes', 'yes'], `${v.name}: emb/sub/uni for ${row}`);
    }
  }
});

test('PDF/A-3a: XMP identification, Info = XMP, output intent, /AF, /Lang, deterministic /ID', async () => {
  const v = r.p2!;
  const raw = Buffer.from(v.bytes).toString('latin1');
  const xmpStart = raw.indexOf('<?xpacket begin');
  const xmpEnd = raw.indexOf('<?xpacket end="w"?>');
  assert.ok(xmpStart > 0 && xmpEnd > xmpStart, 'uncompressed XMP packet');
  const xmp = Buffer.from(raw.slice(xmpStart, xmpEnd), 'latin1').toString('utf8');
  assert.match(xmp, /<pdfaid:part>3<\/pdfaid:part>/);
  assert.match(xmp, /<pdfaid:conformance>A<\/pdfaid:conformance>/);
  assert.match(xmp, /<xmp:CreateDate>2023-05-30T00:00:00\+00:00<\/xmp:CreateDate>/);
  assert.match(xmp, /<pdfaSchema:namespaceURI>https:\/\/zielwerk.example\/ns\/1.0\/<\/pdfaSchema:namespaceURI>/);
  assert.ok(xmp.includes(`<rdf:li xml:lang="x-default">${v.tree.meta.title}</rdf:li>`));

  const doc = await PDFDocument.load(v.bytes, { updateMetadata: false });
  const cat = doc.catalog;
  const intents = cat.lookup(PDFName.of('OutputIntents'), PDFArray);
  const intent = intents.lookup(0, PDFDict);
  assert.equal(intent.get(PDFName.of('S'))?.toString(), '/GTS_PDFA1');
  const profile = intent.lookup(PDFName.of('DestOutputProfile'), PDFStream);
  assert.equal(profile.dict.lookup(PDFName.of('N'), PDFNumber).asNumber(), 3);
  const af = cat.lookup(PDFName.of('AF'), PDFArray);
  assert.equal(af.size(), 1);
  assert.equal(af.lookup(0, PDFDict).get(PDFName.of('AFRelationship'))?.toString(), '/Source');
  assert.equal(cat.lookup(PDFName.of('Lang'), PDFString).decodeText(), 'de-DE');
  const md = cat.lookup(PDFName.of('Metadata'), PDFStream);
  assert.equal(md.dict.get(PDFName.of('Filter')), undefined, 'metadata must not be compressed');
  assert.equal(doc.getTitle(), v.tree.meta.title);
  assert.equal(doc.getAuthor(), v.tree.meta.author);
  assert.equal(doc.getSubject(), v.tree.meta.subject);
  assert.equal(doc.getCreationDate()?.toISOString(), v.tree.meta.created.toISOString());
  assert.equal(doc.getModificationDate()?.toISOString(), v.tree.meta.created.toISOString());
  const id = doc.context.trailerInfo.ID;
  assert.ok(id instanceof PDFArray && id.size() === 2);
  assert.equal((id.get(0) as PDFHexString).asString().length, 32);
  // The ID depends on the content: a different tree gets a different ID.
  const id1 = (await PDFDocument.load(r.p1!.bytes, { updateMetadata: false })).context.trailerInfo.ID as PDFArray;
  assert.notEqual((id1.get(0) as PDFHexString).asString(), (id.get(0) as PDFHexString).asString());
  assert.ok(!raw.includes('/Encrypt') && !raw.includes('/JavaScript') && !raw.includes('/NeedAppearances') && !raw.includes('/Group'));
});

test('signing order is stored in the XMP and reads back', () => {
  for (const n of [1, 2, 3]) {
    const v = r[`p${n}`]!;
    const raw = Buffer.from(v.bytes).toString('latin1');
    const xmp = Buffer.from(raw.slice(raw.indexOf('<?xpacket begin'), raw.indexOf('<?xpacket end')), 'latin1').toString('utf8');
    const meta = parseSigningMetadata(xmp);
    assert.equal(meta.dateStyle, 'long');
    const expected = signatories(v.tree)
      .sort((a, b) => a.order - b.order)
      .map((s) => ({ fieldName: s.fieldName, party: s.party, index: s.index, order: s.order, name: s.name, role: s.role }));
    assert.deepEqual(meta.signatories, expected);
    assert.equal(meta.dateSlots.length, 2, 'both columns leave the date open');
    for (const d of meta.dateSlots) assert.ok(d.rect[2] > d.rect[0] && d.rect[3] > d.rect[1] && d.page >= 1);
  }
});

// ---------------------------------------------------------------------------------------------
// Text

test('pdftotext gives back every heading, paragraph and list item verbatim (whole words, single spaces)', () => {
  assert.ok(r.breaks, 'trial layout found lines ending in "Ausbildungs-" and in "Werra-"');
  for (const v of [r.p2!, r.stress!, r.breaks!]) {
    const text = normalizedText(v.file);
    for (const expected of expectedTexts(v.tree)) assert.ok(text.includes(expected), `${v.name}: missing ${JSON.stringify(expected)}`);
    for (const w of ['Ausbildungsfähigkeit', 'Beschäftigungsfähigkeit', 'Qualifizierungsbudget', 'Werra-Meißner-Kreis', '444.000 Euro', '**Neu** # 1 <b>&amp;</b> {{x}}'])
      assert.ok(text.includes(w), `${v.name}: ${w}`);
    // No split fragments of hyphenated words and no doubled spaces.
    assert.doesNotMatch(text, /\p{Ll}- (?!und |oder |bis )\p{Ll}/u, `${v.name}: hyphenated fragment in extracted text`);
    for (const s of signatories(v.tree)) assert.ok(text.includes(s.name) && text.includes(s.role), s.name);
    assert.ok(text.includes('Wiesbaden, den') && text.includes('Eschwege, den'));
  }
  const long = normalizedText(r.stress!.file);
  assert.ok(long.includes('„Bündnis für Ausbildung“ – § 5 – 444.000 € – Maß, Straße, ÄÖÜ äöü ß.'), 'special characters extract correctly');
});

test('hyphenation actually happens in both samples: soft hyphens (U+00AD), whole words in the extracted text', () => {
  for (const v of [r.p2!, r.stress!]) {
    // Span ids count per layout, so each document is collected on its own.
    const spans = new Map<number, { actual: string; text: string }>();
    for (const p of v.layout.pages)
      for (const it of p.items)
        if (it.kind === 'text')
          for (const piece of it.pieces)
            if (piece.span) {
              const s = spans.get(piece.span.id) ?? { actual: piece.span.actualText, text: '' };
              s.text += piece.text;
              spans.set(piece.span.id, s);
            }
    const hyphenated = [...spans.values()].filter((s) => s.text.endsWith('\u00AD') && s.actual.startsWith(s.text.slice(0, -1)) && s.actual.length > s.text.length);
    assert.ok(hyphenated.length >= 1, `${v.name}: expected a soft-hyphenated word, found none`);
    // The fragments are in the PDF, the extracted text has the whole words and no fragment ending a line.
    const raw = run('pdftotext', ['-enc', 'UTF-8', v.file, '-']);
    const words = new Set(norm(raw).split(' ').map((w) => w.replace(/^[„"(]+|[“",.;:)]+$/g, '')));
    for (const h of hyphenated) {
      const whole = h.actual.trim().replace(/^[„"(]+|[“",.;:)]+$/g, '');
      assert.ok(words.has(whole), `${v.name}: whole word ${whole} in the extracted text`);
      assert.ok(!raw.includes(h.text.slice(0, -1) + '\n'), `${v.name}: fragment ${h.text.slice(0, -1)} ends a line of the extracted text`);
    }
  }
});

test('footer "Seite X von Y" on every page', () => {
  for (const v of all()) {
    const n = pageCount(v.file);
    assert.equal(n, v.layout.pages.length);
    for (let p = 1; p <= n; p++) assert.match(pageText(v.file, p), new RegExp(`Seite ${p} von ${n}`), `${v.name} page ${p}`);
  }
});

test('German hyphenation points', () => {
  assert.deepEqual(
    breakPoints('Werra-Meißner-Kreis').map((p) => [p.offset, p.hyphen]),
    [
      [6, false],
      [14, false],
    ],
  );
  assert.deepEqual(breakPoints('(Re-)Start'), []);
  assert.deepEqual(breakPoints('Haus'), []);
  assert.deepEqual(breakPoints('HMSI'), []);
  const pts = breakPoints('Ausbildungsfähigkeit,');
  assert.ok(pts.length >= 3 && pts.every((p) => p.hyphen));
  assert.ok(pts.some((p) => 'Ausbildungsfähigkeit,'.slice(0, p.offset) === 'Ausbildungs'));
  assert.ok(pts.every((p) => p.offset >= 2 && p.offset <= 'Ausbildungsfähigkeit'.length - 3));
});

// ---------------------------------------------------------------------------------------------
// Rendering and geometry

test('pdftoppm renders every page with visible content', () => {
  for (const v of [r.p1!, r.stress!]) {
    const prefix = join(tmp.dir, `${v.name}-px`);
    run('pdftoppm', ['-r', '50', '-gray', v.file, prefix]);
    const files = readdirSync(tmp.dir).filter((f) => f.startsWith(`${v.name}-px`) && f.endsWith('.pgm'));
    assert.equal(files.length, v.layout.pages.length);
    for (const f of files) {
      const buf = readFileSync(join(tmp.dir, f));
      const header = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(buf.subarray(0, 40).toString('latin1'));
      assert.ok(header, f);
      const pixels = buf.subarray(header[0].length);
      assert.equal(pixels.length, Number(header[1]) * Number(header[2]));
      let dark = 0;
      for (const px of pixels) if (px < 128) dark++;
      assert.ok(dark > 100, `${f}: page looks blank (${dark} dark pixels)`);
    }
  }
});

test('nothing crosses the margins (200-item list, 300-char item with an unbreakable token)', () => {
  for (const v of [r.stress!, r.p3!]) {
    const pages = bboxPages(v.file);
    if (v === r.stress) assert.ok(pages.length >= 4, 'the 200-item list must span several pages');
    for (const [i, p] of pages.entries()) {
      assert.ok(p.words.length > 0, `page ${i + 1} empty`);
      for (const w of p.words) {
        assert.ok(w.xMax <= p.width - PAGE.marginRight + 0.5, `${v.name} p${i + 1}: ${w.text} ends at ${w.xMax}`);
        assert.ok(w.xMin >= PAGE.marginLeft - 0.5, `${v.name} p${i + 1}: ${w.text} starts at ${w.xMin}`);
        assert.ok(w.yMin >= PAGE.marginTop - 2, `${v.name} p${i + 1}: ${w.text} above the top margin`);
      }
    }
  }
  const text = normalizedText(r.stress!.file);
  assert.ok(text.includes(norm(LONG_ITEM)), 'long item extracts whole');
  for (let i = 1; i <= 200; i++) assert.ok(text.includes(`${i}. Projekt Nummer ${i}`), `item ${i}`);
});

test('signature fields: one empty /Sig widget per signatory, over its slot, on the page with the name', async () => {
  for (const n of [1, 2, 3]) {
    const v = r[`p${n}`]!;
    const doc = await PDFDocument.load(v.bytes, { updateMetadata: false });
    const pageRefs = doc.getPages().map((p) => p.ref);
    const acro = doc.catalog.lookup(PDFName.of('AcroForm'), PDFDict);
    assert.equal(acro.get(PDFName.of('NeedAppearances')), undefined);
    const fields = acro.lookup(PDFName.of('Fields'), PDFArray);
    const sigs = signatories(v.tree).sort((a, b) => a.order - b.order);
    assert.equal(fields.size(), 1 + n);
    assert.equal(doc.getForm().getFields().length, 1 + n);
    const pages = bboxPages(v.file);
    // poppler sees the same fields, all unsigned.
    const sigInfo = run('pdfsig', [v.file]);
    assert.equal((sigInfo.match(/Signature Field Name: /g) ?? []).length, 1 + n);
    assert.equal((sigInfo.match(/The signature form field is not signed\./g) ?? []).length, 1 + n);
    for (const s of sigs) assert.ok(sigInfo.includes(`Signature Field Name: ${s.fieldName}`), s.fieldName);
    for (let i = 0; i < fields.size(); i++) {
      const f = fields.lookup(i, PDFDict);
      const s = sigs[i]!;
      assert.equal(f.get(PDFName.of('FT'))?.toString(), '/Sig');
      assert.equal(f.get(PDFName.of('Subtype'))?.toString(), '/Widget');
      assert.equal(f.lookup(PDFName.of('T'), PDFString).decodeText(), s.fieldName);
      assert.equal(f.lookup(PDFName.of('F'), PDFNumber).asNumber(), 4);
      assert.equal(f.get(PDFName.of('V')), undefined, 'unsigned');
      const ap = f.lookup(PDFName.of('AP'), PDFDict).lookup(PDFName.of('N'), PDFStream);
      assert.equal(ap.dict.get(PDFName.of('Subtype'))?.toString(), '/Form');
      assert.ok(ap.dict.get(PDFName.of('BBox')) instanceof PDFArray);
      const pRef = f.get(PDFName.of('P'));
      assert.ok(pRef instanceof PDFRef);
      const pageIndex = pageRefs.findIndex((ref) => ref === pRef || ref.toString() === pRef.toString());
      assert.ok(pageIndex >= 0);
      const annots = doc.getPages()[pageIndex]!.node.lookup(PDFName.of('Annots'), PDFArray);
      assert.ok(annots.asArray().some((a) => a.toString() === fields.get(i).toString()), 'widget in page /Annots');
      const [x1, y1, x2, y2] = f.lookup(PDFName.of('Rect'), PDFArray).asArray().map((x) => (x as PDFNumber).asNumber()) as [number, number, number, number];
      assert.ok(Math.abs(y2 - y1 - 56.7) < 1.5, `slot height ~2 cm, got ${y2 - y1}`);
      assert.ok(Math.abs(x2 - x1 - 0.45 * (PAGE.width - PAGE.marginLeft - PAGE.marginRight)) < 1, 'slot ~45 % of the text width');
      // The printed name is on the same page, just below the widget.
      assert.ok(pageText(v.file, pageIndex + 1).includes(s.name), `${s.name} on page ${pageIndex + 1}`);
      const first = s.name.split(' ')[0]!;
      const words = pages[pageIndex]!.words.filter((w) => w.text === first && w.xMin >= x1 - 0.5 && w.xMin <= x2);
      assert.equal(words.length, 1, `${first} under its slot`);
      const gap = words[0]!.yMin - (PAGE.height - y1); // top-down distance from slot bottom to name top
      assert.ok(gap > 0 && gap < 20, `name ${gap.toFixed(1)} pt below the slot`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Pagination

test('signature block is never split: moved whole to the next page', () => {
  assert.ok(straddleExtra >= 0, 'found an extraParagraphs count where the block would straddle');
  const v = r.straddle!;
  const s = signaturePage(v.layout);
  const names = signatories(v.tree).map((x) => x.name);
  const n = pageCount(v.file);
  const withNames = Array.from({ length: n }, (_, i) => pageText(v.file, i + 1)).map((t) => names.filter((nm) => t.includes(nm)).length);
  assert.deepEqual(
    withNames.map((c) => c > 0),
    withNames.map((_, i) => i === s),
  );
  assert.equal(withNames[s], names.length);
  assert.ok(pageText(v.file, s + 1).includes('Wiesbaden, den'));
  // Never alone on its page: the closing lines of the text come with it.
  const fragments = v.layout.pages[s]!.fragments;
  assert.ok(fragments[0]!.kind !== 'signatures', 'the signature block does not open a page by itself');
});

test('headings stay with the following block; paragraphs keep ≥ 2 lines on each side of a break', () => {
  let splitParagraphs = 0;
  for (let extra = 0; extra <= 12; extra++) {
    for (const tree of [sampleTree(2, extra), sampleTree(1, extra)]) {
      const layout = layoutPdf(tree);
      layout.pages.forEach((p, i) => {
        const last = p.fragments[p.fragments.length - 1];
        if (i < layout.pages.length - 1 && last) assert.ok(last.kind !== 'heading' && last.kind !== 'title', `extra=${extra}: page ${i + 1} ends with a heading`);
        for (const f of p.fragments) {
          if (f.kind !== 'paragraph' || (f.from === 0 && f.to === f.lines - 1)) continue;
          splitParagraphs++;
          assert.ok(f.lines >= 4, 'only paragraphs of 4+ lines may break');
          assert.ok(f.to - f.from + 1 >= 2, `extra=${extra}: widow/orphan on page ${i + 1}`);
        }
        // A heading's successor starts on the same page as the heading.
        p.fragments.forEach((f, k) => {
          if (f.kind === 'heading' && k === p.fragments.length - 1) assert.equal(i, layout.pages.length - 1);
        });
      });
    }
  }
  assert.ok(splitParagraphs > 0, 'the sweep must exercise paragraph breaks');
});

test('a 200-item list paginates cleanly', () => {
  const layout = r.stress!.layout;
  const listPages = layout.pages.filter((p) => p.fragments.some((f) => f.kind === 'list' && f.lines > 200));
  assert.ok(listPages.length >= 4);
  // Every list page but the last (which the list shares with the signature block) is filled.
  for (const p of listPages.slice(0, -1)) {
    const lines = p.items.filter((i) => i.kind === 'text' && i.y > PAGE.footerBaseline + 1);
    assert.ok(lines.length > 20, 'pages are filled');
    for (const l of lines) if (l.kind === 'text') assert.ok(l.y >= PAGE.marginBottom - 0.5, 'no line in the bottom margin');
  }
});

// ---------------------------------------------------------------------------------------------
// Determinism and performance

test('byte-identical output for the same tree, independent of the clock', async () => {
  const again = await renderPdf(sampleTree(2));
  assert.ok(Buffer.from(again).equals(Buffer.from(r.p2!.bytes)), 'second render differs');
  // Concurrent renders share the parsed fonts; they must not disturb each other.
  const parallel = await Promise.all([renderPdf(sampleTree(2)), renderPdf(sampleTree(1)), renderPdf(sampleTree(2))]);
  assert.ok(Buffer.from(parallel[0]).equals(Buffer.from(r.p2!.bytes)) && Buffer.from(parallel[2]).equals(Buffer.from(r.p2!.bytes)));
  assert.ok(Buffer.from(parallel[1]).equals(Buffer.from(r.p1!.bytes)));
  mock.timers.enable({ apis: ['Date'], now: 978307200000 });
  try {
    const mocked = await renderPdf(sampleTree(2));
    assert.ok(Buffer.from(mocked).equals(Buffer.from(r.p2!.bytes)), 'render depends on the clock');
  } finally {
    mock.timers.reset();
  }
});

test('attachments: pdfdetach lists and returns the exact bytes', () => {
  const v = r.p2!;
  const a = v.tree.attachments[0]!;
  const list = run('pdfdetach', ['-list', '-enc', 'UTF-8', v.file]);
  assert.match(list, /1 embedded files/);
  assert.ok(list.includes(a.name));
  const out = join(tmp.dir, 'detached.json');
  run('pdfdetach', ['-save', '1', '-o', out, v.file]);
  assert.ok(readFileSync(out).equals(Buffer.from(a.content)));
});

test('performance: a typical agreement renders well under a second', async (t) => {
  const tree = sampleTree(2, 3);
  await renderPdf(tree);
  const n = 5;
  const start = performance.now();
  let size = 0;
  for (let i = 0; i < n; i++) size = (await renderPdf(tree)).length;
  const ms = (performance.now() - start) / n;
  t.diagnostic(`render ${ms.toFixed(1)} ms/document, ${(size / 1024).toFixed(1)} KB, ${layoutPdf(tree).pages.length} pages`);
  assert.ok(ms < 1000, `${ms} ms`);
});
