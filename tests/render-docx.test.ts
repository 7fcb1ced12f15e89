import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { renderDocx } from '../src/render/docx.ts';
import { layoutPdf } from '../src/render/pdf/index.ts';
import { docxText, documentXmlText } from '../src/render/docx-text.ts';
import type { Block, DocumentTree, SignatureBlock } from '../src/document/tree.ts';
import { sampleTree } from './fixtures/sample-tree.ts';
import { run, tempDir } from './helpers/tools.ts';

const MARKUP_NAME = '**Neu** # 1 <b>&amp;</b> {{x}}';

/** The sample tree plus two more ordered lists (one with start 5) before the signature block. */
function testTree(partnerSignatories = 2): DocumentTree {
  const tree = sampleTree(partnerSignatories);
  const extra: Block[] = [
    { kind: 'heading', level: 1, runs: [{ text: '§ 6' }] },
    { kind: 'heading', level: 2, runs: [{ text: 'Zielsteuerungsdialoge' }] },
    {
      kind: 'list',
      ordered: true,
      items: [{ runs: [{ text: 'Zweite Liste erster Punkt' }] }, { runs: [{ text: 'Zweite Liste zweiter Punkt' }] }],
    },
    { kind: 'paragraph', runs: [{ text: 'Zwischentext mit\tTabulator und\nZeilenumbruch.' }] },
    { kind: 'list', ordered: true, start: 5, items: [{ runs: [{ text: 'Dritte Liste ab fünf' }] }] },
  ];
  const sigIndex = tree.blocks.findIndex((b) => b.kind === 'signatures');
  tree.blocks.splice(sigIndex, 0, ...extra);
  return tree;
}

function unzip(bytes: Uint8Array): Record<string, string> {
  const files = unzipSync(bytes);
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strFromU8(v)]));
}

/** DOS date/time of every entry in the zip's central directory. */
function zipEntryTimes(bytes: Uint8Array): { name: string; year: number; month: number; day: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = bytes.length - 22;
  while (eocd >= 0 && view.getUint32(eocd, true) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, 'end of central directory not found');
  const count = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const out = [];
  for (let i = 0; i < count; i++) {
    assert.equal(view.getUint32(p, true), 0x02014b50, 'central directory header signature');
    const date = view.getUint16(p + 14, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    out.push({ name, year: (date >> 9) + 1980, month: (date >> 5) & 15, day: date & 31 });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

const tree = testTree(2);
const bytes = await renderDocx(tree);
const parts = unzip(bytes);
const documentXml = parts['word/document.xml']!;

test('renders a DOCX package with the expected parts', () => {
  assert.equal(bytes[0], 0x50);
  assert.equal(bytes[1], 0x4b);
  for (const part of ['[Content_Types].xml', 'word/document.xml', 'word/styles.xml', 'word/numbering.xml', 'word/settings.xml', 'docProps/core.xml']) {
    assert.ok(parts[part], `missing ${part}`);
  }
  assert.match(documentXml, /<w:pgSz w:w="11906" w:h="16838"/, 'A4 page size');
  // The PDF's page: 2 cm top, 2.5 cm left, right and bottom (twips, rounded).
  assert.match(documentXml, /<w:pgMar w:top="1134" w:right="1417" w:bottom="1417" w:left="1417"/, 'margins 2 cm / 2.5 cm');
});

test('docxText contains headings, amount, literal markup-like text and all signatories', async () => {
  const text = await docxText(bytes);
  const lines = text.split('\n');
  for (const block of tree.blocks) {
    if (block.kind === 'heading') {
      const h = block.runs.map((r) => r.text).join('');
      assert.ok(lines.includes(h), `heading "${h}" missing`);
    }
    if (block.kind === 'title') {
      for (const line of block.lines) assert.ok(lines.includes(line.map((r) => r.text).join('')), 'title line missing');
    }
  }
  assert.ok(lines.includes('444.000 Euro'), 'amount line');
  assert.ok(lines.includes(MARKUP_NAME), 'markup-like project name must appear literally');
  assert.ok(lines.includes('Zwischentext mit\tTabulator und\nZeilenumbruch.'.split('\n')[0]!), 'tab kept as tab');
  assert.ok(lines.includes('Zeilenumbruch.'), 'line feed rendered as a line break');
  // The signature table: place lines, then name, role, organisation per signatory, in column order.
  const sig = tree.blocks.find((b): b is SignatureBlock => b.kind === 'signatures')!;
  const tableText = `${text.slice(text.indexOf('Wiesbaden, den'))}\n`;
  let pos = 0;
  for (const col of sig.columns) {
    const place = `${col.place}, den`;
    const at = tableText.indexOf(place, pos);
    assert.ok(at >= pos, `"${place}" missing or out of order`);
    pos = at;
    for (const s of col.signatories) {
      for (const expected of [s.name, s.role, ...s.organisationLines]) {
        const i = tableText.indexOf(`\n${expected}\n`, pos - 1);
        assert.ok(i >= 0, `"${expected}" missing in signature block`);
        pos = i + 1;
      }
    }
  }
});

test('literal text is escaped, not interpreted', () => {
  assert.ok(documentXml.includes('**Neu** # 1 &lt;b&gt;&amp;amp;&lt;/b&gt; {{x}}'), 'escaped exactly once');
  assert.ok(!documentXml.includes('<b>'));
  assert.match(documentXml, /Zwischentext mit<\/w:t><w:tab\/><w:t[^>]*>Tabulator und<\/w:t><\/w:r><w:r>(?:<w:rPr>.*?<\/w:rPr>)?<w:br\/>/);
});

test('styles.xml defines every style used, with the required formatting', () => {
  const styles = parts['word/styles.xml']!;
  const defined = new Set([...styles.matchAll(/<w:style [^>]*w:styleId="([^"]+)"/g)].map((m) => m[1]));
  const used = new Set(
    [documentXml, parts['word/footer1.xml'] ?? ''].flatMap((x) => [...x.matchAll(/<w:(?:pStyle|rStyle) w:val="([^"]+)"/g)].map((m) => m[1])),
  );
  assert.ok(used.size >= 8, `expected many styles in use, got ${[...used].join(', ')}`);
  for (const id of used) assert.ok(defined.has(id), `style ${id} used but not defined`);
  const style = (id: string) => {
    const m = styles.match(new RegExp(`<w:style [^>]*w:styleId="${id}"[^>]*>([\\s\\S]*?)</w:style>`));
    assert.ok(m, `style ${id} not defined`);
    return m[1]!;
  };
  for (const id of ['Heading1', 'Heading2', 'Heading3']) {
    const s = style(id);
    assert.match(s, /<w:name w:val="heading \d"\/>/, `${id} keeps the built-in name`);
    assert.match(s, /<w:jc w:val="center"\/>/, `${id} centred`);
    assert.match(s, /<w:b\/>/, `${id} bold`);
    assert.match(s, /<w:keepNext\/>/, `${id} keepNext`);
    assert.match(s, /<w:keepLines\/>/, `${id} keepLines`);
  }
  // Font, size and language once, in the document defaults (not on every run).
  const defaults = styles.match(/<w:docDefaults>([\s\S]*?)<\/w:docDefaults>/)![1]!;
  assert.match(defaults, /<w:rFonts w:ascii="Liberation Sans"/);
  assert.match(defaults, /<w:sz w:val="22"\/>/, '11 pt');
  assert.match(defaults, /<w:lang w:val="de-DE"/);
  assert.match(defaults, /<w:widowControl\/>/);
  assert.doesNotMatch(documentXml, /<w:lang /, 'no language on runs');
  const normal = style('Normal');
  assert.match(normal, /<w:jc w:val="both"\/>/, 'body justified');
  // The PDF's exact line pitch (11 pt × 1.35 = 14.85 pt) and its paragraph gap (7 pt), as space before only.
  assert.match(normal, /<w:spacing w:before="140" w:after="0" w:line="297" w:lineRule="exact"\/>/);
  for (const id of ['Heading1', 'Heading2', 'Heading3', 'Title', 'TitleBlock', 'Amount']) {
    assert.match(style(id), /<w:suppressAutoHyphens\/>/, `${id} never hyphenated`);
  }
  assert.doesNotMatch(normal, /suppressAutoHyphens/);
  assert.match(style('Heading1'), /<w:sz w:val="24"\/>/, '12 pt');
  assert.match(style('Heading1'), /<w:spacing w:before="360" w:after="0" w:line="324" w:lineRule="exact"\/>/, '12 pt heading, 18 pt before');
  // Only styles in use (or that a used style is based on, or the default table style) are defined.
  const basedOn = new Set([...styles.matchAll(/<w:basedOn w:val="([^"]+)"\/>/g)].map((m) => m[1]));
  for (const id of defined) {
    assert.ok(used.has(id) || basedOn.has(id) || (id === 'TableNormal' && documentXml.includes('<w:tbl>')), `style ${id} defined but unused`);
  }
  assert.ok(defined.size <= 14, `${defined.size} styles`);
  const title = style('Title');
  const titleBlock = style('TitleBlock');
  assert.match(title, /<w:jc w:val="center"\/>/);
  assert.match(titleBlock, /<w:jc w:val="center"\/>/);
  assert.ok(Number(title.match(/<w:sz w:val="(\d+)"/)![1]) > Number(titleBlock.match(/<w:sz w:val="(\d+)"/)![1]), 'first title line larger');
  assert.match(style('Amount'), /<w:jc w:val="center"\/>/);
  assert.match(styles, /<w:docDefaults>[\s\S]*<w:lang w:val="de-DE"\/>[\s\S]*<\/w:docDefaults>/);
  // The amount paragraph uses the centred Amount style.
  assert.match(documentXml, /<w:pStyle w:val="Amount"\/>(?:(?!<\/w:p>).)*444\.000 Euro/);
});

test('each ordered list restarts at its own start (separate numbering instances)', () => {
  const numbering = parts['word/numbering.xml']!;
  const numIdOf = (text: string) => {
    const i = documentXml.indexOf(`>${text}</w:t>`);
    assert.ok(i > 0, `${text} not found`);
    const pStart = documentXml.lastIndexOf('<w:p>', i);
    const m = documentXml.slice(pStart, i).match(/<w:ilvl w:val="(\d+)"\/><w:numId w:val="(\d+)"\/>/);
    assert.ok(m, `${text} is not a numbered paragraph`);
    return { ilvl: Number(m[1]), numId: m[2]! };
  };
  const first = numIdOf('Ausbildung und Ausbildungscoaching in anerkannten Ausbildungsberufen');
  const firstB = numIdOf('Qualifizierungsprojekte zur Arbeitsmarktintegration, Fachkräftesicherung');
  const second = numIdOf('Zweite Liste erster Punkt');
  const third = numIdOf('Dritte Liste ab fünf');
  const nested = numIdOf('DREIplus');
  assert.equal(first.numId, firstB.numId, 'items of one list share a numbering instance');
  assert.equal(first.ilvl, 0);
  assert.equal(nested.ilvl, 1, 'nested list one level deeper');
  assert.notEqual(first.numId, second.numId, 'second list must not continue the first');
  assert.notEqual(second.numId, third.numId);
  const num = (id: string) => {
    const m = numbering.match(new RegExp(`<w:num w:numId="${id}">([\\s\\S]*?)</w:num>`));
    assert.ok(m, `w:num ${id} missing`);
    const abstractId = m[1]!.match(/<w:abstractNumId w:val="(\d+)"\/>/)![1]!;
    const start0 = m[1]!.match(/<w:lvlOverride w:ilvl="0"><w:startOverride w:val="(\d+)"\/>/)?.[1];
    const abs = numbering.match(new RegExp(`<w:abstractNum [^>]*w:abstractNumId="${abstractId}"[^>]*>([\\s\\S]*?)</w:abstractNum>`))![1]!;
    const lvl = (n: number) => abs.match(new RegExp(`<w:lvl w:ilvl="${n}"[^>]*>([\\s\\S]*?)</w:lvl>`))![1]!;
    return { start0: Number(start0), lvl };
  };
  assert.equal(num(first.numId).start0, 1);
  assert.equal(num(second.numId).start0, 1, 'second list restarts at 1');
  assert.equal(num(third.numId).start0, 5, 'third list starts at its start');
  assert.match(num(first.numId).lvl(0), /<w:numFmt w:val="decimal"\/><w:lvlText w:val="%1\."\/>/);
  assert.match(num(nested.numId).lvl(1), /<w:numFmt w:val="bullet"\/>/);
  // Hanging indent, deeper for nested levels.
  const ind = (x: string) => Number(x.match(/<w:ind w:left="(\d+)" w:hanging="(\d+)"\/>/)![1]);
  assert.ok(ind(num(nested.numId).lvl(1)) > ind(num(first.numId).lvl(0)));
});

test('signature block is a borderless, unsplittable table with one column per party', () => {
  const tbl = documentXml.match(/<w:tbl>([\s\S]*?)<\/w:tbl>/)![1]!;
  assert.equal((tbl.match(/<w:gridCol /g) ?? []).length, 2);
  assert.match(tbl, /<w:cantSplit\/>/);
  const borders = tbl.match(/<w:tblBorders>([\s\S]*?)<\/w:tblBorders>/)![1]!;
  for (const side of ['top', 'left', 'bottom', 'right', 'insideH', 'insideV']) {
    assert.match(borders, new RegExp(`<w:${side} w:val="(none|nil)"`), `table border ${side} must be none`);
  }
  for (const m of tbl.matchAll(/<w:tcBorders>([\s\S]*?)<\/w:tcBorders>/g)) assert.doesNotMatch(m[1]!, /w:val="(?!none|nil)/);
  // The paragraph right before the table keeps with it.
  const before = documentXml.slice(0, documentXml.indexOf('<w:tbl>'));
  assert.match(before.slice(before.lastIndexOf('<w:p>')), /<w:keepNext\/>/);
  // One rule line per signatory.
  assert.equal((tbl.match(/<w:pStyle w:val="SignatureLine"\/>/g) ?? []).length, 3);
});

test('header lines and a printed date appear in the signature cells', async () => {
  const t = testTree(1);
  const sig = t.blocks.find((b): b is SignatureBlock => b.kind === 'signatures')!;
  sig.columns[1] = { ...sig.columns[1]!, headerLines: ['Kreisausschuss des Werra-Meißner-Kreises'], date: '28. Juni 2023' };
  const text = await docxText(await renderDocx(t));
  assert.match(text, /\nEschwege, den 28\. Juni 2023\nKreisausschuss des Werra-Meißner-Kreises\n/);
  assert.match(text, /\nWiesbaden, den\n/);
});

test('settings enable automatic hyphenation, at most 2 hyphenated lines in a row, acronyms left whole', () => {
  const settings = parts['word/settings.xml']!;
  assert.match(settings, /<w:autoHyphenation(?: w:val="(?:true|1|on)")?\/>/);
  assert.match(settings, /<w:consecutiveHyphenLimit w:val="2"\/>/);
  assert.match(settings, /<w:doNotHyphenateCaps(?: w:val="(?:true|1|on)")?\/>/);
});

test('proper names get the no-hyphenation character style; non-breaking spaces pass through; no empty runs', async () => {
  const t = testTree(1);
  t.blocks.splice(2, 0, {
    kind: 'paragraph',
    runs: [
      { text: 'Nach §\u00A05 Abs.\u00A01 und am 30.\u202FMai\u00A02023 zeichnet das ' },
      { text: 'Regierungspräsidium Kassel', noHyphenate: true },
      { text: '' },
      { text: ' gegen; SGB\u2011II-Mittel, Ausbildungs\u00ADbudget.' },
    ],
  });
  const xml = unzip(await renderDocx(t));
  const doc = xml['word/document.xml']!;
  assert.ok(doc.includes('>Nach §\u00A05 Abs.\u00A01 und am 30.\u202FMai\u00A02023 zeichnet das </w:t>'), 'U+00A0 / U+202F kept');
  assert.match(doc, /<w:r><w:rPr><w:rStyle w:val="ProperName"\/><\/w:rPr><w:t xml:space="preserve">Regierungspräsidium Kassel<\/w:t><\/w:r>/);
  assert.equal((doc.match(/w:val="ProperName"/g) ?? []).length, 1, 'only the name run');
  assert.ok(doc.includes('> gegen; SGB</w:t><w:noBreakHyphen/><w:t xml:space="preserve">II-Mittel, Ausbildungs</w:t><w:softHyphen/><w:t xml:space="preserve">budget.</w:t>'));
  // Word finds Arial where Liberation Sans is not installed.
  assert.match(xml['word/fontTable.xml']!, /<w:font w:name="Liberation Sans"><w:altName w:val="Arial"\/>/);
  const name = xml['word/styles.xml']!.match(/<w:style w:type="character" w:styleId="ProperName">([\s\S]*?)<\/w:style>/);
  assert.ok(name, 'ProperName character style defined');
  assert.match(name[1]!, /<w:noProof\/>/);
  assert.match(name[1]!, /<w:lang w:val="zxx"\/>/);
  // Every run carries text, a tab, a break or a field character.
  for (const part of [doc, xml['word/footer1.xml']!]) {
    for (const r of part.matchAll(/<w:r>([\s\S]*?)<\/w:r>/g)) {
      assert.match(r[1]!, /<w:(?:t|tab|br|fldChar|instrText)\b/, `empty run: ${r[0]}`);
    }
  }
});

test('core properties carry the metadata and the fixed creation date', () => {
  const core = parts['docProps/core.xml']!;
  assert.ok(core.includes(`<dc:title>${tree.meta.title}</dc:title>`));
  assert.ok(core.includes(`<dc:subject>${tree.meta.subject}</dc:subject>`));
  assert.ok(core.includes(`<dc:creator>${tree.meta.author}</dc:creator>`));
  assert.ok(core.includes(`<cp:lastModifiedBy>${tree.meta.author}</cp:lastModifiedBy>`));
  assert.ok(core.includes('<cp:keywords>Zielvereinbarung, AQB, 2023, Werra-Meißner-Kreis</cp:keywords>'));
  assert.match(core, /<dc:description>[^<]+<\/dc:description>/);
  assert.match(core, /<dcterms:created xsi:type="dcterms:W3CDTF">2023-05-30T00:00:00Z<\/dcterms:created>/);
  assert.match(core, /<dcterms:modified xsi:type="dcterms:W3CDTF">2023-05-30T00:00:00Z<\/dcterms:modified>/);
  assert.ok(core.includes('<dc:language>de-DE</dc:language>'));
});

test('footer shows "Seite X von Y" with PAGE and NUMPAGES fields', () => {
  const rels = parts['word/_rels/document.xml.rels']!;
  const rid = documentXml.match(/<w:footerReference w:type="default" r:id="([^"]+)"\/>/)![1]!;
  const target = rels.match(new RegExp(`Id="${rid}"[^>]*Target="([^"]+)"`))?.[1] ?? rels.match(new RegExp(`Target="([^"]+)"[^>]*Id="${rid}"`))![1]!;
  const footer = parts[`word/${target}`]!;
  assert.ok(footer, `footer part ${target}`);
  assert.match(footer, /Seite <\/w:t>[\s\S]*<w:instrText[^>]*>\s*PAGE\s*<\/w:instrText>[\s\S]*> von <\/w:t>[\s\S]*<w:instrText[^>]*>\s*NUMPAGES\s*<\/w:instrText>/);
  assert.match(footer, /<w:pStyle w:val="Footer"\/>/);
});

test('PAGE and NUMPAGES carry cached results: page 1 and the PDF layout\'s page count', async () => {
  const footerOf = (x: Record<string, string>) => x['word/footer1.xml']!;
  const cached = (footer: string, field: string) =>
    footer.match(new RegExp(`<w:instrText[^>]*> ${field} </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>([^<]*)</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/>`))?.[1];
  const pdfPages = layoutPdf(tree).pages.length;
  assert.ok(pdfPages >= 2);
  assert.equal(cached(footerOf(parts), 'PAGE'), '1');
  assert.equal(cached(footerOf(parts), 'NUMPAGES'), String(pdfPages));
  assert.equal(cached(footerOf(unzip(await renderDocx(tree, { pageCount: 7 }))), 'NUMPAGES'), '7');
});

test('rendering is deterministic: byte-identical twice, clock- and time-zone-independent', async () => {
  const again = await renderDocx(testTree(2));
  assert.ok(Buffer.from(bytes).equals(Buffer.from(again)), 'two renders differ');
  for (const e of zipEntryTimes(bytes)) {
    assert.deepEqual([e.year, e.month, e.day], [2023, 5, 30], `zip entry ${e.name} carries the clock, not meta.created`);
  }
  // Another process in a far-away time zone gives the same bytes.
  const { dir, cleanup } = tempDir('zv-docx-tz-');
  try {
    const script = join(dir, 'render.mts');
    writeFileSync(
      script,
      `import { renderDocx } from ${JSON.stringify(new URL('../src/render/docx.ts', import.meta.url).pathname)};\n` +
        `import { sampleTree } from ${JSON.stringify(new URL('./fixtures/sample-tree.ts', import.meta.url).pathname)};\n` +
        `process.stdout.write(Buffer.from(await renderDocx(sampleTree(2))).toString('base64'));\n`,
    );
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, TZ: 'Pacific/Kiritimati' },
      encoding: 'utf8',
    });
    const local = await renderDocx(sampleTree(2));
    assert.ok(Buffer.from(out, 'base64').equals(Buffer.from(local)), 'bytes depend on the time zone');
  } finally {
    cleanup();
  }
});

test('docxText walks paragraphs, tables, tabs, breaks and entities', () => {
  const xml =
    '<w:document><w:body>' +
    '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>a</w:t><w:tab/><w:t xml:space="preserve">b &amp; &lt;c&gt; &#228;&#x00DF;</w:t><w:br/><w:t>d</w:t></w:r></w:p>' +
    '<w:p/>' +
    '<w:tbl><w:tr><w:tc><w:p><w:r><w:t>links</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>rechts</w:t></w:r></w:p></w:tc></w:tr></w:tbl>' +
    '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:delText>weg</w:delText><w:t>x</w:t><w:noBreakHyphen/><w:t>y</w:t></w:r></w:p>' +
    '</w:body></w:document>';
  assert.equal(documentXmlText(xml), 'a\tb & <c> äß\nd\n\nlinks\nrechts\nx-y');
});

test('LibreOffice opens the DOCX and converts it to PDF', () => {
  const { dir, cleanup } = tempDir('zv-docx-lo-');
  try {
    const docx = join(dir, 'zielvereinbarung.docx');
    writeFileSync(docx, bytes);
    const profile = `file://${join(dir, 'lo-profile')}`;
    run('soffice', [`-env:UserInstallation=${profile}`, '--headless', '--convert-to', 'pdf', '--outdir', dir, docx], { timeoutMs: 180_000 });
    const pdf = join(dir, 'zielvereinbarung.pdf');
    assert.ok(existsSync(pdf) && statSync(pdf).size > 1000, 'PDF not written');
    const text = run('pdftotext', ['-layout', pdf, '-']);
    const flat = text.replace(/\s+/g, ' ');
    for (const phrase of ['Zielvereinbarung', '444.000 Euro', 'Kai Klose', 'Nicole Rathgeber', 'Silke Engler', 'Staatsminister', MARKUP_NAME]) {
      assert.ok(flat.includes(phrase), `PDF text lacks "${phrase}"`);
    }
    // Lists restart: "1." appears for both ordered lists, the third starts at 5.
    assert.match(text, /1\.\s+Ausbildung und Ausbildungscoaching/);
    assert.match(text, /1\.\s+Zweite Liste erster Punkt/);
    assert.match(text, /2\.\s+Zweite Liste zweiter Punkt/);
    assert.match(text, /5\.\s+Dritte Liste ab fünf/);
    // Footer fields are evaluated: "Seite 1 von N" with N = page count.
    const pages = Number(run('pdfinfo', [pdf]).match(/Pages:\s+(\d+)/)![1]);
    assert.ok(pages >= 2, `expected at least 2 pages, got ${pages}`);
    assert.ok(flat.includes(`Seite 1 von ${pages}`), 'footer page numbers');
    assert.ok(flat.includes(`Seite ${pages} von ${pages}`), 'footer on the last page');
    // The signatures are side by side: both place lines on one text line.
    assert.match(text, /Wiesbaden, den\s{2,}Eschwege, den/);
    assert.ok(readFileSync(pdf).subarray(0, 5).toString() === '%PDF-');
  } finally {
    cleanup();
  }
});
