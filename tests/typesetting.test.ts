/**
 * Typesetting: total-fit breaking with German rules, measured on the generated PDFs by the same
 * report `npm run bench` prints (scripts/typeset-report.ts reads content streams, fonts and fields,
 * not the layout engine), plus the rules in the document tree (ties, protected names).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { composeFromData } from '../src/compose/index.ts';
import { tie } from '../src/compose/typography.ts';
import { plainText } from '../src/document/text.ts';
import type { Run } from '../src/document/tree.ts';
import { breakPoints, layoutPdf } from '../src/render/pdf/index.ts';
import { formatSummary, measureDocument, measureFiles, type BatchSummary, type PdfLine } from '../scripts/typeset-report.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const EXAMPLES = ['aqb-2023-werra-meissner-kreis', 'aqb-2024-landkreis-offenbach', 'sgb2-2023-landkreis-kassel'];
const example = (n: string) => JSON.parse(readFileSync(join(ROOT, 'examples', `${n}.json`), 'utf8'));
const zv = (...args: string[]) => execFileSync(process.execPath, [join(ROOT, 'bin/zv.js'), ...args], { cwd: ROOT, stdio: 'pipe' });

let dir: string;
const summaries: Record<string, BatchSummary> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zv-typeset-test-'));
  zv('generate', ...EXAMPLES.map((e) => `examples/${e}.json`), '--out', join(dir, 'examples'), '--format', 'pdf');
  zv('batch', 'examples/aqb-2023-hessen.json', '--out', join(dir, 'aqb-2023'), '--format', 'pdf', '--quiet');
  const batch = execFileSync('find', [join(dir, 'aqb-2023'), '-name', '*.pdf'], { encoding: 'utf8' }).trim().split('\n').sort();
  assert.equal(batch.length, 26);
  summaries.examples = await measureFiles('examples', EXAMPLES.map((e) => join(dir, 'examples', `${e}.pdf`)));
  summaries.aqb2023 = await measureFiles('aqb-2023-hessen', batch);
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const set of ['examples', 'aqb2023']) {
  test(`${set}: the typesetting targets hold in the generated PDFs`, (t) => {
    const s = summaries[set]!;
    t.diagnostic(formatSummary(s));
    assert.ok(s.hyphenShare <= 0.15, `hyphenated line ends ${(s.hyphenShare * 100).toFixed(1)} % > 15 %`);
    assert.ok(s.longestHyphenRun <= 2, `run of ${s.longestHyphenRun} hyphenated lines`);
    assert.ok(s.stretchP99 <= 1.5, `space stretch p99 ${s.stretchP99.toFixed(2)}`);
    assert.ok(s.stretchMax <= 1.9, `space stretch max ${s.stretchMax.toFixed(2)}`);
    assert.ok(s.letterSpacingMin >= -0.04 - 1e-9 && s.letterSpacingMax <= 0.04 + 1e-9, `letter-spacing ${s.letterSpacingMin} … ${s.letterSpacingMax}`);
    assert.ok(s.letterSpacingMax > 0.005, 'letter-spacing takes part in justification');
    assert.ok(s.flushRightShare >= 0.6, `flush right ${(s.flushRightShare * 100).toFixed(1)} %`);
    assert.deepEqual(s.forbidden, []);
  });
}

test('the report catches forbidden breaks (synthetic lines)', () => {
  const MARGIN = (2.5 * 72) / 2.54;
  const RIGHT = 595.28 - MARGIN;
  const line = (y: number, text: string, right = RIGHT): PdfLine => ({
    page: 0,
    y,
    x: MARGIN,
    right,
    size: 11,
    tc: 0,
    text,
    glyphs: [...text].map((c) => ({ text: c, width: 3, after: c === ' ' ? 6 : 0 })),
  });
  const pitch = 11 * 1.35;
  const lines = [
    line(700, 'Kompetenzen dafür ein, dass die in §'),
    line(700 - pitch, '5 vereinbarten Ziele bis zum 15.'),
    line(700 - 2 * pitch, 'Februar 2024 erreicht werden, vom Wetter\u00AD'),
    line(700 - 3 * pitch, 'aukreis und auf dem Portal veröf\u00AD'),
    line(700 - 4 * pitch, 'fentlicht.', MARGIN + 50),
  ];
  const m = measureDocument('synthetic', lines, new Map(), ['Wetteraukreis']);
  const kinds = m.forbidden.map((f) => f.split(':')[0]);
  assert.deepEqual(kinds, ['nach Paragraphenzeichen/Abkürzung', 'Datum getrennt', 'Eigenname getrennt (Wetteraukreis)', 'letztes Wort des Absatzes getrennt']);
  assert.equal(m.hyphenatedLines, 2);
  assert.equal(m.longestHyphenRun, 2);
  assert.equal(Math.max(...m.stretches), 3, 'space 3 pt + 6 pt displacement = 3×');
});

test('ties in the document tree: §, Abs., Nr., amounts, SGB II, dates', () => {
  assert.equal(tie('in § 5 und §§ 16a, 24'), 'in §\u00A05 und §§\u00A016a, 24');
  assert.equal(tie('§ 48b Abs. 1 Satz 1 Nr. 4 SGB II'), '§\u00A048b Abs.\u00A01 Satz\u00A01 Nr.\u00A04 SGB\u00A0II');
  assert.equal(tie('444.000 Euro, 27,7 Mio. Euro, 18,5 %'), '444.000\u00A0Euro, 27,7\u00A0Mio.\u00A0Euro, 18,5\u00A0%');
  assert.equal(tie('bis zum 15. Februar 2024 und am 30. Mai 2023'), 'bis zum 15.\u00A0Februar\u00A02024 und am 30.\u00A0Mai\u00A02023');
  assert.equal(tie('Der Satz ist lang. Die Nr. eins'), 'Der Satz ist lang. Die Nr. eins', 'no tie without a number');
  const text = plainText(composeFromData(example('sgb2-2023-landkreis-kassel')).tree);
  assert.match(text, /§\u00A016a/);
  assert.match(text, /SGB\u00A0II/);
  assert.match(text, /15\.\u00A0Februar\u00A02024/);
  assert.doesNotMatch(text, /§ \d/, 'no breakable space after § anywhere');
});

test('proper names are marked noHyphenate in the tree and never hyphenated', () => {
  const c = composeFromData(example('aqb-2023-werra-meissner-kreis'));
  const runs: Run[] = c.tree.blocks.flatMap((b) => (b.kind === 'paragraph' || b.kind === 'heading' ? b.runs : []));
  const names = runs.filter((r) => r.noHyphenate).map((r) => r.text.replace(/\u00A0/g, ' '));
  for (const n of ['Werra-Meißner-Kreis', 'Werra-Meißner-Kreises', 'Hessische Ministerium für Soziales und Integration']) assert.ok(names.some((x) => x.includes(n)), n);
  // Nothing inside a protected run is split by an inserted hyphen.
  for (const p of layoutPdf(c.tree).pages)
    for (const it of p.items)
      if (it.kind === 'text') {
        const last = it.pieces[it.pieces.length - 1]!;
        if (last.text !== '\u00AD') continue;
        const word = it.pieces.map((x) => x.text).join('').split(/[ \u00A0]/).pop()!;
        assert.ok(!names.some((n) => n.split(/[ \u00A0]/).some((w) => w.startsWith(word.slice(0, -1)) && w.length > word.length - 1)), `hyphenated name part ${word}`);
      }
});

test('hyphenation points: three letters either side, compound joints marked', () => {
  const pts = breakPoints('Ausbildungsberufen');
  const at = (p: { offset: number }) => 'Ausbildungsberufen'.slice(0, p.offset);
  assert.ok(pts.every((p) => p.offset >= 3 && 'Ausbildungsberufen'.length - p.offset >= 3));
  assert.ok(pts.some((p) => at(p) === 'Ausbildungs' && p.joint), 'Ausbildungs-berufen is a joint');
  assert.ok(pts.some((p) => at(p) === 'Ausbildungsbe' && !p.joint), 'Ausbildungsbe-rufen is not');
  assert.ok(breakPoints('Integration').every((p) => p.offset >= 3));
});

test('inserted hyphens are soft hyphens (U+00AD) in the content stream; text extraction gives whole words', () => {
  const file = join(dir, 'examples', 'aqb-2023-werra-meissner-kreis.pdf');
  const text = execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' });
  const layout = layoutPdf(composeFromData(example('aqb-2023-werra-meissner-kreis')).tree);
  const soft = layout.pages.flatMap((p) => p.items.flatMap((it) => (it.kind === 'text' ? it.pieces.filter((x) => x.text === '\u00AD') : [])));
  assert.ok(soft.length >= 3, 'the agreement has hyphenated lines');
  assert.ok(!layout.pages.some((p) => p.items.some((it) => it.kind === 'text' && it.pieces.some((x) => x.text === '-' && x.span?.actualText !== '- ' && x === it.pieces[it.pieces.length - 1] && /\p{Ll}$/u.test(it.pieces[it.pieces.length - 2]?.text ?? '')))), 'no hard hyphen drawn for hyphenation');
  assert.doesNotMatch(text, /\p{Ll}[-\u00AD]\n\p{Ll}/u, 'no word torn across lines in the extracted text');
});

test('the breaker never sets more than two hyphenated lines in a row, even where hyphens would fit perfectly', async () => {
  const { breakParagraph } = await import('../src/render/pdf/linebreak.ts');
  type Item = Parameters<typeof breakParagraph>[0][number];
  // Words of two 40 pt halves joined by a hyphenation point (5 pt hyphen), 10 pt spaces: on a 185 pt
  // measure (half, word, half + hyphen) every line fits exactly when it ends at a hyphen; a line that
  // ends at a space is very loose (r = 11) but allowed.
  const items: Item[] = [{ type: 'box', width: 40, glyphs: 8 }];
  for (let w = 0; w < 40; w++) {
    items.push({ type: 'glue', width: 10, stretch: 5, shrink: 3, glyphs: 1 });
    items.push({ type: 'box', width: 40, glyphs: 8 }, { type: 'penalty', width: 5, glyphs: 1, penalty: 50, flagged: true, soft: true }, { type: 'box', width: 40, glyphs: 8 });
  }
  items.push({ type: 'glue', width: 0, stretch: Infinity, shrink: 0, glyphs: 0 }, { type: 'penalty', width: 0, glyphs: 0, penalty: -Infinity, flagged: false });
  const params = {
    lineWidth: 185, pretolerance: -1, tolerance: 20, emergencyTolerance: 20, linePenalty: 10, doubleHyphenDemerits: 0, finalHyphenDemerits: 0,
    adjacentDemerits: 0, letterStretch: 0, letterShrink: 0, emergencyLetterShrink: 0, raggedStretch: 0,
  };
  const longestRun = (max: number) => {
    let run = 0;
    let longest = 0;
    for (const b of breakParagraph(items, { ...params, maxConsecutiveHyphens: max })) longest = Math.max(longest, (run = b.flagged ? run + 1 : 0));
    return longest;
  };
  assert.ok(longestRun(50) > 2, 'without the limit the breaker would hyphenate line after line');
  assert.equal(longestRun(2), 2);
});
