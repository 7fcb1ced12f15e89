/**
 * Tagged PDF / PDF/UA-1 / PDF/A-3a of the agreement and the Signaturprotokoll, checked with
 * independent readers: poppler (pdfinfo, pdfinfo -struct-text, pdftotext), qpdf --check, pdf.js
 * (getStructTree, getAnnotations), a content-stream walker, and a pdf-lib walk of the raw
 * StructTreeRoot/ParentTree. The structure text must give the reference wording in reading order,
 * the signature block party by party; a signed copy must keep all of it.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PDFArray, PDFBool, PDFDict, PDFDocument, PDFName, PDFNumber, PDFStream, PDFString } from 'pdf-lib';
import { renderAuditReport } from '../src/envelope/report-pdf.ts';
import type { AuditReportData } from '../src/envelope/report-pdf.ts';
import { agreementPdf, signInOrder, testStore } from './helpers/signing.ts';
import { flatten, pageContent, parseStructText, rawStructure, structText, walkMarkedContent } from './helpers/tagged.ts';
import type { StructTextNode } from './helpers/tagged.ts';
import { run, tempDir } from './helpers/tools.ts';
import { compareWords, normaliseLines, until, words } from './helpers/words.ts';

const EXAMPLES = new URL('../examples/', import.meta.url).pathname;
const REFERENCE = new URL('../../shared/reference/', import.meta.url).pathname;

interface Example {
  name: string;
  today: string;
  /** Signatories in signing order (party:index), for the signed copy. */
  signatories: string[];
}
const CASES: Example[] = [
  { name: 'aqb-2023-werra-meissner-kreis', today: '2023-05-30', signatories: ['ministry:1', 'partner:1'] },
  { name: 'aqb-2024-landkreis-offenbach', today: '2024-03-12', signatories: ['ministry:1', 'partner:1'] },
  { name: 'sgb2-2023-landkreis-kassel', today: '2023-01-24', signatories: ['ministry:1', 'partner:1', 'partner:2'] },
];

const tmp = tempDir('zv-a11y-');
const files = new Map<string, string>();
let signedFile = '';

before(async () => {
  for (const c of CASES) {
    const path = join(tmp.dir, `${c.name}.pdf`);
    writeFileSync(path, await agreementPdf(join(EXAMPLES, `${c.name}.json`), c.today));
    files.set(c.name, path);
  }
  // A fully signed copy of the first example, signed the way the signing tests do it.
  const { store } = await testStore(join(tmp.dir, 'keys'));
  const states = await signInOrder(store, new Uint8Array(readFileSync(files.get(CASES[0]!.name)!)), CASES[0]!.signatories);
  signedFile = join(tmp.dir, 'signed.pdf');
  writeFileSync(signedFile, states.at(-1)!);
});
after(() => tmp.cleanup());

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Words for comparison, ignoring hyphenation: list labels dropped (words()), then every hyphen
 * removed together with the space after it, on both sides alike — poppler's structure text shows
 * the glyphs ("Ar-" + "beitsmarktpolitik"), not the ActualText, so a line-end hyphen and a
 * compound hyphen ("Ausbildungs- und") must compare equal to the reference either way.
 */
function dehyphenated(ws: string[]): string[] {
  return ws.join(' ').replace(/\s*-\s*/g, '').split(' ').filter(Boolean);
}

/** A place line's date ("Wiesbaden, den 30. Mai 2023") is stamped at signing: compare the lines without it. */
const withoutDate = (lines: string[]) => lines.map((l) => l.replace(/^(.+, den)\b.*$/, '$1'));

const reference = (name: string) => normaliseLines(readFileSync(join(REFERENCE, `${name}.txt`), 'utf8'));
const SIG_START = /^Wiesbaden, den/;

function structTree(file: string): StructTextNode {
  return parseStructText(run('pdfinfo', ['-struct-text', file]));
}

/** One line of text per leaf element of the Document, in structure order. */
function elementLines(doc: StructTextNode): string[] {
  return flatten(doc)
    .filter((n) => n.text.length > 0)
    .map((n) => normaliseLines(structText({ ...n, children: [] })).join(' '))
    .filter(Boolean);
}

/** Checks the structure text of one agreement PDF against the reference; returns the Document node. */
function checkStructText(file: string, name: string): StructTextNode {
  const root = structTree(file);
  assert.equal(root.children.length, 1, 'one Document root');
  const doc = root.children[0]!;
  assert.equal(doc.role, 'Document');
  const lines = elementLines(doc);
  const ref = reference(name);

  const body = compareWords(dehyphenated(words(until(ref, SIG_START))), dehyphenated(words(until(lines, SIG_START))));
  assert.equal(body.ratio, 1, `${name}: structure text differs from the reference: ${body.differences.join(' | ')}`);

  // Signature block: one Div per party, ministry first, each with place, (header,) name, role, organisation.
  const divs = doc.children.filter((n) => n.role === 'Div');
  assert.equal(divs.length, 2, `${name}: one Div per party`);
  assert.deepEqual(doc.children.slice(-2), divs, 'the signature Divs close the document');
  const sigRef = withoutDate(ref.slice(until(ref, SIG_START).length));
  const sigActual = withoutDate(divs.flatMap((d) => elementLines(d)));
  const sig = compareWords(words(sigRef), words(sigActual));
  assert.equal(sig.ratio, 1, `${name}: signature block (party by party) differs: ${sig.differences.join(' | ')}`);
  assert.match(elementLines(divs[0]!)[0]!, /^Wiesbaden, den$/, 'the ministry reads first');
  // Every signatory has its Form element (OBJR to the widget) in its party's Div.
  for (const d of divs) assert.ok(d.children.some((k) => k.role === 'Form' && k.objects.length === 1), `${name}: Form element with its widget`);
  return doc;
}

/** Widget annotations of a PDF: object number, /StructParent, /TU. */
async function widgets(bytes: Uint8Array) {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const out: { page: number; obj: number; structParent?: number; tu?: string; tabs?: string }[] = [];
  doc.getPages().forEach((p, i) => {
    const annots = p.node.lookupMaybe(PDFName.of('Annots'), PDFArray);
    for (const ref of annots?.asArray() ?? []) {
      const a = doc.context.lookup(ref, PDFDict);
      if (a.lookup(PDFName.of('Subtype'), PDFName).decodeText() !== 'Widget') continue;
      const sp = a.get(PDFName.of('StructParent'));
      const tu = a.get(PDFName.of('TU'));
      out.push({
        page: i,
        obj: (ref as unknown as { objectNumber: number }).objectNumber,
        structParent: sp instanceof PDFNumber ? sp.asNumber() : undefined,
        tu: tu && 'decodeText' in tu ? (tu as PDFString).decodeText() : undefined,
        tabs: p.node.lookupMaybe(PDFName.of('Tabs'), PDFName)?.decodeText(),
      });
    }
  });
  return out;
}

type PdfjsNode = { role?: string; type?: string; id?: string; alt?: string; children?: PdfjsNode[] };

/** pdf.js: per page the [role, MCID] leaves of getStructTree() in order, Form roles' annotation ids, and the widget annotation ids. */
async function pdfjsView(bytes: Uint8Array) {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const task = pdfjs.getDocument({ data: new Uint8Array(bytes), verbosity: 0, isEvalSupported: false });
  const doc = await task.promise;
  const pages: { leaves: [string, number][]; roles: Set<string>; formAnnots: string[]; widgetIds: string[] }[] = [];
  try {
    for (let i = 1; i <= doc.numPages; i++) {
      const page = await doc.getPage(i);
      const tree = (await page.getStructTree()) as PdfjsNode | null;
      const leaves: [string, number][] = [];
      const roles = new Set<string>();
      const formAnnots: string[] = [];
      const visit = (n: PdfjsNode, role: string) => {
        if (n.role) roles.add(n.role);
        for (const k of n.children ?? []) {
          if (k.type === 'content') leaves.push([n.role ?? role, Number(/_mc(\d+)$/.exec(k.id!)![1])]);
          else if (k.type === 'annotation') {
            assert.equal(n.role, 'Form', 'annotations sit in Form elements');
            formAnnots.push(k.id!.replace(/^pdfjs_internal_id_/, ''));
          } else visit(k, k.role ?? role);
        }
      };
      if (tree) visit(tree, '');
      const annots = (await page.getAnnotations()) as { id: string; subtype: string }[];
      pages.push({ leaves, roles, formAnnots, widgetIds: annots.filter((a) => a.subtype === 'Widget').map((a) => a.id) });
    }
  } finally {
    await task.destroy();
  }
  return pages;
}

/** The content-stream walk of every page: nothing outside an MCID sequence or Artifact, MCIDs unique per page. */
async function checkContentStreams(bytes: Uint8Array, label: string): Promise<number[][]> {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const mcids: number[][] = [];
  doc.getPages().forEach((page, i) => {
    const r = walkMarkedContent(pageContent(page));
    assert.ok(r.textOps > 0, `${label} p. ${i + 1}: text found`);
    assert.deepEqual(r.untagged, [], `${label} p. ${i + 1}: operators outside MCID/Artifact`);
    assert.deepEqual(r.problems, [], `${label} p. ${i + 1}: marked-content structure`);
    assert.equal(new Set(r.mcids).size, r.mcids.length, `${label} p. ${i + 1}: MCIDs unique`);
    mcids.push(r.mcids);
  });
  return mcids;
}

/** Catalog and XMP: Tagged, MarkInfo, Lang, DisplayDocTitle, PDF/A-3a and PDF/UA-1 identification. */
async function checkCatalogAndXmp(file: string, label: string) {
  assert.match(run('pdfinfo', [file]), /^Tagged:\s+yes$/m, `${label}: pdfinfo Tagged`);
  assert.match(run('qpdf', ['--check', file]), /No syntax or stream encoding errors found/, `${label}: qpdf --check`);
  const doc = await PDFDocument.load(readFileSync(file), { updateMetadata: false });
  const cat = doc.catalog;
  assert.equal(cat.lookup(PDFName.of('MarkInfo'), PDFDict).lookup(PDFName.of('Marked'), PDFBool).asBoolean(), true, `${label}: MarkInfo Marked`);
  assert.equal(cat.lookup(PDFName.of('Lang'), PDFString).decodeText(), 'de-DE', `${label}: Lang`);
  assert.equal(cat.lookup(PDFName.of('ViewerPreferences'), PDFDict).lookup(PDFName.of('DisplayDocTitle'), PDFBool).asBoolean(), true, `${label}: DisplayDocTitle`);
  const root = cat.lookup(PDFName.of('StructTreeRoot'), PDFDict);
  assert.equal(root.lookup(PDFName.of('Type'), PDFName).decodeText(), 'StructTreeRoot');
  assert.equal(root.get(PDFName.of('RoleMap')), undefined, `${label}: standard roles only, no RoleMap needed`);
  const xmp = Buffer.from(cat.lookup(PDFName.of('Metadata'), PDFStream).getContents()).toString('utf8');
  assert.match(xmp, /<pdfaid:part>3<\/pdfaid:part>/);
  assert.match(xmp, /<pdfaid:conformance>A<\/pdfaid:conformance>/);
  assert.match(xmp, /<pdfuaid:part>1<\/pdfuaid:part>/);
  assert.match(xmp, /<pdfaSchema:namespaceURI>http:\/\/www\.aiim\.org\/pdfua\/ns\/id\/<\/pdfaSchema:namespaceURI>\s*<pdfaSchema:prefix>pdfuaid<\/pdfaSchema:prefix>/, `${label}: pdfuaid declared in the PDF/A extension schema`);
  const types = [...xmp.matchAll(/<pdfaProperty:valueType>([^<]*)<\/pdfaProperty:valueType>/g)].map((m) => m[1]!);
  assert.ok(types.length > 0);
  for (const t of types) assert.match(t, /^(?:(?:bag|seq|alt) )?(?:Text|Integer|Boolean|Date|URI)$/, `${label}: XMP value type spelled as in the spec: ${t}`);
  return doc;
}

/** pdf-lib raw walk vs. pdf.js vs. the content streams: the same leaves per page, widgets in Form elements. */
async function checkTreeViews(bytes: Uint8Array, mcids: number[][], label: string) {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const raw = rawStructure(doc);
  assert.deepEqual(raw.problems, [], `${label}: ParentTree/StructTreeRoot consistency`);
  const js = await pdfjsView(bytes);
  const ws = await widgets(bytes);
  js.forEach((p, i) => {
    const rawLeaves = raw.leaves.filter((l) => l.page === i && l.mcid !== undefined).map((l) => [l.role, l.mcid!] as [string, number]);
    assert.deepEqual(p.leaves, rawLeaves, `${label} p. ${i + 1}: pdf.js sees the same structure leaves`);
    assert.deepEqual([...rawLeaves.map((l) => l[1])].sort((a, b) => a - b), [...mcids[i]!].sort((a, b) => a - b), `${label} p. ${i + 1}: every MCID of the page is in the tree`);
    const pageWidgets = ws.filter((w) => w.page === i).map((w) => `${w.obj}R`);
    assert.deepEqual([...p.formAnnots].sort(), [...pageWidgets].sort(), `${label} p. ${i + 1}: every widget is in a Form element`);
    assert.deepEqual([...p.widgetIds].sort(), [...pageWidgets].sort());
  });
  for (const w of ws) {
    assert.equal(typeof w.structParent, 'number', `${label}: widget ${w.obj} has /StructParent`);
    assert.match(w.tu ?? '', /^Unterschrift \S/, `${label}: widget ${w.obj} keeps /TU`);
    assert.equal(w.tabs, 'S', `${label}: page with widgets has /Tabs /S`);
  }
  return { raw, js, widgets: ws };
}

// ---------------------------------------------------------------------------------------------
// Agreement

for (const c of CASES) {
  test(`${c.name}: pdfinfo -struct-text gives the reference text in reading order, the signature block party by party`, () => {
    const doc = checkStructText(files.get(c.name)!, c.name);
    const roles = new Set(flatten(doc).map((n) => n.role));
    for (const r of ['H1', 'H2', 'P', 'L', 'LI', 'Lbl', 'LBody', 'Div', 'Form']) assert.ok(roles.has(r), `${c.name}: role ${r}`);
    // The title's first line is the H1; the footer is an artifact, not in the tree.
    assert.equal(doc.children[0]!.role, 'H1');
    assert.match(doc.children[0]!.text.join(''), /^Zielvereinbarung( \d{4})?$/);
    assert.ok(!elementLines(doc).some((l) => /^Seite \d+ von \d+$/.test(l)), 'footer is an artifact');
    // Heading levels never skip one going down (Matterhorn 14-003): H1 → H2 → H3.
    const levels = flatten(doc).filter((n) => /^H\d$/.test(n.role)).map((n) => Number(n.role.slice(1)));
    levels.forEach((l, i) => assert.ok(l <= (i ? levels[i - 1]! : 0) + 1, `${c.name}: heading H${l} after H${levels[i - 1]}`));
  });

  test(`${c.name}: every text run is inside an MCID sequence or an Artifact; pdf.js and the raw tree agree`, async () => {
    const bytes = new Uint8Array(readFileSync(files.get(c.name)!));
    const mcids = await checkContentStreams(bytes, c.name);
    const { raw, widgets: ws } = await checkTreeViews(bytes, mcids, c.name);
    assert.equal(ws.length, c.signatories.length, 'one widget per signatory');
    assert.equal(raw.roles.filter((r) => r === 'Form').length, c.signatories.length, 'one Form element per signatory');
    assert.equal(raw.roles[0], 'Document');
  });

  test(`${c.name}: Tagged, MarkInfo, Lang, DisplayDocTitle, PDF/A-3a + PDF/UA-1 in the XMP, qpdf --check`, async () => {
    await checkCatalogAndXmp(files.get(c.name)!, c.name);
  });
}

test('the same input gives a byte-identical tagged PDF', async () => {
  const c = CASES[2]!;
  const again = await agreementPdf(join(EXAMPLES, `${c.name}.json`), c.today);
  assert.ok(Buffer.from(again).equals(readFileSync(files.get(c.name)!)));
});

test('a signed copy keeps the tree valid: struct text, widgets with /StructParent in their Form elements', async () => {
  const c = CASES[0]!;
  const bytes = new Uint8Array(readFileSync(signedFile));
  assert.match(run('pdfsig', [signedFile], { allowExit: [1, 2, 3, 4] }), /Signature #2/, 'two signatures');
  checkStructText(signedFile, c.name);
  const mcids = await checkContentStreams(bytes, 'signed');
  const { widgets: ws } = await checkTreeViews(bytes, mcids, 'signed');
  assert.equal(ws.length, c.signatories.length);
  await checkCatalogAndXmp(signedFile, 'signed');
  // The signatures changed no page content: the tree's text is the unsigned one's.
  assert.deepEqual(elementLines(structTree(signedFile).children[0]!), elementLines(structTree(files.get(c.name)!).children[0]!));
});

// ---------------------------------------------------------------------------------------------
// Signaturprotokoll

function report(): AuditReportData {
  const h = (s: string) => Buffer.from(s.padEnd(32, '.')).toString('hex');
  return {
    envelopeId: 'env_0f6b3c9e-5a2d-4e8f-9b71-3c2d1e0f4a5b',
    agreement: { title: 'Zielvereinbarung 2023 – Werra-Meißner-Kreis (AQB)', type: 'aqb', year: 2023, partnerName: 'Werra-Meißner-Kreis', amountText: '444.000 Euro', version: 1, edition: '2023', agreementId: 'aqb-2023-werra-meissner-kreis' },
    status: 'unterzeichnet',
    generatedAt: '2023-06-28T12:00:00Z',
    documents: [{ label: 'Signiertes Dokument', fileName: 'aqb-2023-werra-meissner-kreis-signiert.pdf', sha256: h('final'), size: 123_456 }],
    signatories: [
      { position: 1, name: 'Kai Klose', role: 'Staatsminister', party: 'Ministerium', email: 'minister@hsm.hessen.de', status: 'unterzeichnet', signedAt: '2023-05-30T09:00:00Z', place: 'Wiesbaden', date: '2023-05-30', level: 'einfache elektronische Signatur' },
      { position: 2, name: 'Nicole Rathgeber', role: 'Landrätin', party: 'Werra-Meißner-Kreis', email: null, status: 'unterzeichnet', signedAt: '2023-06-28T10:00:00Z', place: 'Eschwege', date: '2023-06-28', certificate: { subject: 'CN=Nicole Rathgeber, O=Werra-Meißner-Kreis, C=DE', issuer: 'CN=Zielwerk Demo-CA', serial: '01A3', sha256: h('cert') } },
    ],
    writtenForm: { met: false, text: 'Schriftform nicht gewahrt — qualifizierte Signatur oder Papierausfertigung erforderlich.' },
    archiveTimestamp: null,
    events: [
      { seq: 1, at: '2023-05-29T08:00:00Z', type: 'created', typeLabel: 'Umschlag erstellt', actor: 'Sachbearbeiterin Jana Weiß', details: 'Umschlag angelegt.', docBefore: null, docAfter: h('draft'), prevHash: '0'.repeat(64), hash: h('e1') },
      { seq: 2, at: '2023-05-30T09:00:00Z', type: 'signed', typeLabel: 'Unterschrieben', actor: 'Kai Klose', details: 'PAdES-Signatur hinzugefügt.', docBefore: h('draft'), docAfter: h('one'), prevHash: h('e1'), hash: h('e2') },
    ],
    chain: { ok: true, head: h('e2'), text: 'Hash-Kette vollständig und unverändert (2 Ereignisse)' },
  };
}

test('Signaturprotokoll: tagged (H1/H2/H3/P/Table), all drawn text in the tree once, footer an artifact, PDF/UA-1', async () => {
  const bytes = await renderAuditReport(report());
  const file = join(tmp.dir, 'protokoll.pdf');
  writeFileSync(file, bytes);
  await checkCatalogAndXmp(file, 'Signaturprotokoll');
  const mcids = await checkContentStreams(bytes, 'Signaturprotokoll');
  const raw = rawStructure(await PDFDocument.load(bytes, { updateMetadata: false }));
  assert.deepEqual(raw.problems, []);
  assert.deepEqual(raw.leaves.map((l) => l.mcid).sort((a, b) => a! - b!), mcids.flat().sort((a, b) => a - b));

  const doc = structTree(file).children[0]!;
  assert.equal(doc.role, 'Document');
  const nodes = flatten(doc);
  assert.deepEqual(doc.children[0]!.role, 'H1');
  assert.equal(doc.children[0]!.text.join(''), 'Signaturprotokoll');
  assert.deepEqual(nodes.filter((n) => n.role === 'H2').map((n) => n.text.join(' ')), ['Dokumente', 'Unterzeichnende', 'Schriftform', 'Ereignisse', 'Integrität']);
  assert.deepEqual(nodes.filter((n) => n.role === 'H3').map((n) => n.text.join(' ')), ['Signiertes Dokument', '1. Kai Klose', '2. Nicole Rathgeber']);
  // Label/value rows are tables: a row header (TH) and its value (TD) in each TR.
  const tables = nodes.filter((n) => n.role === 'Table');
  assert.ok(tables.length >= 5);
  for (const t of tables)
    for (const tr of t.children) {
      assert.deepEqual([tr.role, ...tr.children.map((k) => k.role)], ['TR', 'TH', 'TD']);
      assert.deepEqual(tr.children[0]!.attributes, ['/Scope /Row'], 'TH is a row header');
    }
  const statusRow = tables[0]!.children.find((tr) => tr.children[0]!.text.join('') === 'Status:');
  assert.equal(statusRow?.children[1]!.text.join(''), 'unterzeichnet');

  // Every word pdftotext sees, except the footer (an artifact), is in the structure text exactly once.
  const seen = normaliseLines(run('pdftotext', ['-enc', 'UTF-8', file, '-'])).filter((l) => !/^Signaturprotokoll · .* Seite \d+ von \d+$/.test(l));
  const tagged = nodes.flatMap((n) => n.text).join(' ');
  assert.deepEqual(words(normaliseLines(tagged)).sort(), words(seen).sort());
  const js = await pdfjsView(bytes);
  assert.ok(js[0]!.roles.has('Table') && js[0]!.roles.has('TH') && js[0]!.roles.has('TD') && js[0]!.roles.has('H1'), 'pdf.js sees the table');
});
