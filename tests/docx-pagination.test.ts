import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DocumentTree, SignatureBlock } from '../src/document/tree.ts';
import { sampleTree } from './fixtures/sample-tree.ts';
import { batchTrees, convertAll, exampleTree, lastBodyLine, pagesEndingInHeading, type Converted, type NamedTree } from './helpers/docx-pages.ts';
import { run, tempDir } from './helpers/tools.ts';

/**
 * The DOCX paginates like the PDF: every DOCX is rendered by LibreOffice (with hyphen-de, as the CI
 * installs it) in one soffice call, and its page count (pdfinfo) and page texts (pdftotext) are
 * compared with our PDF layout of the same tree.
 */
const EXAMPLES = ['aqb-2023-werra-meissner-kreis.json', 'aqb-2024-landkreis-offenbach.json', 'sgb2-2023-landkreis-kassel.json'];
const MIN_BATCH_MATCHES = 48;

/**
 * A hyphenation probe: the same paragraphs with the proper names marked noHyphenate or not. The
 * sentences grow word by word, so the names fall at every position of a line, line ends included.
 */
const NAMES = ['Regierungspräsidium Kassel', 'Landeshauptstadt Wiesbaden', 'Wissenschaftsstadt Darmstadt'];
function probe(protect: boolean): DocumentTree {
  const tree = sampleTree(1);
  const words = 'Die Vereinbarung wird zwischen den Beteiligten geschlossen und gilt für das gesamte Jahr sowie darüber hinaus'.split(' ');
  const paragraphs = Array.from({ length: 16 }, (_, k) => ({
    kind: 'paragraph' as const,
    runs: [
      { text: `${words.slice(0, 3 + k).join(' ')} mit dem ` },
      { text: NAMES[0]!, noHyphenate: protect },
      { text: ', der ' },
      { text: NAMES[1]!, noHyphenate: protect },
      { text: ' und der ' },
      { text: NAMES[2]!, noHyphenate: protect },
      { text: ' zusammen.' },
    ],
  }));
  tree.blocks.splice(1, 0, ...paragraphs);
  return tree;
}

let cleanup: () => void;
let trees: NamedTree[];
let results: Map<string, Converted>;
let batchNames: string[];

before(async () => {
  const t = tempDir('zv-docx-pages-');
  cleanup = t.cleanup;
  const examples = EXAMPLES.map(exampleTree).map((e) => ({ ...e, name: `example-${e.name}` }));
  const batch = [...(await batchTrees('aqb-2023-hessen.json')), ...(await batchTrees('sgb2-2023-hessen.json'))];
  batchNames = batch.map((b) => b.name);
  trees = [...examples, ...batch, { name: 'probe-plain', tree: probe(false) }, { name: 'probe-names', tree: probe(true) }];
  // One LibreOffice start for all 57 documents.
  results = new Map((await convertAll(trees, t.dir)).map((c) => [c.name, c]));
});
after(() => cleanup?.());

const treeOf = (name: string) => trees.find((t) => t.name === name)!.tree;

for (const file of EXAMPLES) {
  const name = `example-${file.replace(/\.json$/, '')}`;
  test(`${file}: the DOCX (LibreOffice) has the PDF's page count`, () => {
    const c = results.get(name)!;
    assert.equal(c.docxPages, c.pdfPages, `DOCX ${c.docxPages} pages, PDF ${c.pdfPages}`);
    // Set in the PDF's font, not a substitute.
    const fonts = run('pdffonts', [c.pdf]).trim().split('\n').slice(2).map((l) => l.split(/\s+/)[0]!.replace(/^[A-Z]{6}\+/, ''));
    assert.ok(fonts.length >= 2, fonts.join(', '));
    for (const f of fonts) assert.match(f, /^LiberationSans(-Bold)?$/, `font ${f}`);
  });
}

test(`the 52 agreements of 2023 (26 AQB + 26 SGB II): at least ${MIN_BATCH_MATCHES} DOCX have the PDF's page count`, (t) => {
  assert.equal(batchNames.length, 52);
  const differing = batchNames.map((n) => results.get(n)!).filter((c) => c.docxPages !== c.pdfPages);
  const matching = batchNames.length - differing.length;
  t.diagnostic(`DOCX page count = PDF page count: ${matching} of ${batchNames.length}`);
  console.log(`DOCX page count = PDF page count: ${matching} of ${batchNames.length}`);
  assert.ok(
    matching >= MIN_BATCH_MATCHES,
    `only ${matching} of 52 match: ${differing.map((c) => `${c.name} (DOCX ${c.docxPages}, PDF ${c.pdfPages})`).join(', ')}`,
  );
});

test('no page of a DOCX ends with a heading (keep with next), read from the converted PDF', () => {
  let pages = 0;
  const offenders: string[] = [];
  for (const { name } of trees.filter((t) => !t.name.startsWith('probe-'))) {
    const c = results.get(name)!;
    pages += c.pageTexts.length;
    for (const p of pagesEndingInHeading(c, treeOf(name))) offenders.push(`${name} p. ${p}: "${lastBodyLine(c.pageTexts[p - 1]!)}"`);
  }
  assert.ok(pages >= 55 * 3, `${pages} pages read`);
  assert.deepEqual(offenders, []);
});

test('the signature block is never split: place lines and the last signatory on one page, with text above them', () => {
  for (const { name } of trees.filter((t) => !t.name.startsWith('probe-'))) {
    const c = results.get(name)!;
    const sig = treeOf(name).blocks.find((b): b is SignatureBlock => b.kind === 'signatures')!;
    const norm = c.pageTexts.map((p) => p.replace(/[\s\u00A0\u202F]+/g, ' '));
    const pageOf = (s: string) => norm.findIndex((p) => p.includes(s));
    const first = pageOf(`${sig.columns[0]!.place}, den`);
    assert.ok(first >= 0, `${name}: place line not found`);
    for (const col of sig.columns) {
      for (const s of col.signatories) assert.equal(pageOf(s.name), first, `${name}: ${s.name} not on the page of the place lines`);
    }
    // Not alone on its page: the agreement's text ends on the same page.
    const beforePlace = norm[first]!.slice(0, norm[first]!.indexOf(`${sig.columns[0]!.place}, den`)).replace(/Seite \d+ von \d+/, '').trim();
    assert.ok(beforePlace.length > 20, `${name}: signature block alone on page ${first + 1}`);
  }
});

test('LibreOffice hyphenates German body text (hyphen-de) but never the proper names marked noHyphenate', () => {
  const lineEnds = (name: string) =>
    results
      .get(name)!
      .pageTexts.flatMap((p) => p.split('\n'))
      .map((l) => l.trim())
      .filter((l) => /\p{L}-$/u.test(l))
      .map((l) => l.split(/\s+/).pop()!);
  const nameParts = NAMES.flatMap((n) => n.split(' '));
  const brokenName = (end: string) => nameParts.some((part) => part.startsWith(end.slice(0, -1)) && part !== end.slice(0, -1));
  const plain = lineEnds('probe-plain').filter(brokenName);
  assert.ok(plain.length >= 3, `hyphenation is not active (hyphen-de installed?): name fragments at line ends: ${plain.join(' ')}`);
  const names = lineEnds('probe-names').filter(brokenName);
  assert.deepEqual(names, [], 'a proper name was hyphenated');
});
