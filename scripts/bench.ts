/**
 * Benchmark: speed and memory of composing and rendering agreements, printed as figures.
 * Run with `npm run bench`. Not a test: nothing here passes or fails on timing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { composeFromData } from '../src/compose/index.ts';
import { renderDocx } from '../src/render/docx.ts';
import { renderPdf } from '../src/render/pdf/index.ts';
import { listPartners } from '../src/registry/partners.ts';

const EXAMPLES = ['aqb-2023-werra-meissner-kreis', 'aqb-2024-landkreis-offenbach', 'sgb2-2023-landkreis-kassel'];
const RUNS = Number(process.env.BENCH_RUNS ?? 10);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
let peakRss = process.memoryUsage().rss;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));

async function time<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  sampleRss();
  return [result, performance.now() - start];
}

function table(header: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells) console.log(line(r));
}

const inputs = EXAMPLES.map((n) => JSON.parse(readFileSync(new URL(`../examples/${n}.json`, import.meta.url), 'utf8')));

console.log(`Zielwerk benchmark — node ${process.version}, ${RUNS} runs per figure (median)\n`);

// First render pays for loading fonts, hyphenation patterns and templates.
const [, coldMs] = await time(async () => {
  const tree = composeFromData(inputs[0], { today: '2026-01-01' }).tree;
  await renderPdf(tree);
  await renderDocx(tree);
});
console.log(`cold start (first compose + PDF + DOCX, incl. font loading): ${coldMs.toFixed(0)} ms\n`);

const rows: (string | number)[][] = [];
for (const [i, input] of inputs.entries()) {
  const compose: number[] = [];
  const pdf: number[] = [];
  const docx: number[] = [];
  let pdfBytes = 0;
  let docxBytes = 0;
  for (let r = 0; r < RUNS; r++) {
    const [c, tc] = await time(() => composeFromData(input, { today: '2026-01-01' }));
    const [p, tp] = await time(() => renderPdf(c.tree));
    const [d, td] = await time(() => renderDocx(c.tree));
    compose.push(tc);
    pdf.push(tp);
    docx.push(td);
    pdfBytes = p.length;
    docxBytes = d.length;
  }
  const both = compose.map((c, k) => c + pdf[k] + docx[k]);
  rows.push([EXAMPLES[i], median(compose).toFixed(1), median(pdf).toFixed(1), median(docx).toFixed(1), median(both).toFixed(1), (pdfBytes / 1024).toFixed(1), (docxBytes / 1024).toFixed(1)]);
}
table(['example (warm)', 'compose ms', 'PDF ms', 'DOCX ms', 'both ms', 'PDF KB', 'DOCX KB'], rows);

// A whole year: 26 AQB + 26 SGB II agreements, sequentially, as the yearly run will do.
const partners = listPartners();
const year = partners.flatMap((p) => [
  { type: 'aqb', year: 2023, partner: p.id, amount: 1065384.62, date: '2023-05-30', measures: inputs[0].measures, signatories: { partner: [{ name: 'Erika Muster', role: p.headTitle?.f ?? 'Landrätin' }] } },
  { type: 'sgb2', year: 2023, partner: p.id, date: '2023-01-24', signatories: { partner: [{ name: 'Erika Muster', role: p.headTitle?.f ?? 'Landrätin' }, { name: 'Max Muster', role: 'Erster Kreisbeigeordneter' }] } },
]);
let totalPdf = 0;
let totalDocx = 0;
const [, yearMs] = await time(async () => {
  for (const input of year) {
    const tree = composeFromData(input).tree;
    totalPdf += (await renderPdf(tree)).length;
    totalDocx += (await renderDocx(tree)).length;
  }
});
console.log(`\nyear run: ${year.length} agreements (26 AQB + 26 SGB II) → PDF + DOCX in ${(yearMs / 1000).toFixed(2)} s`);
console.log(`  ${(yearMs / year.length).toFixed(0)} ms per agreement, ${(year.length / (yearMs / 1000)).toFixed(1)} agreements/s`);
console.log(`  output: ${mb(totalPdf)} MB PDF, ${mb(totalDocx)} MB DOCX`);

// Extreme but legal: 200 projects.
const many = { ...inputs[0], measures: [{ category: 'qualifizierung', projects: Array.from({ length: 200 }, (_, i) => `Projekt Nummer ${i + 1} mit einem etwas längeren Namen`) }] };
const [bigTree] = await time(() => composeFromData(many).tree);
const [bigPdf, bigMs] = await time(() => renderPdf(bigTree));
console.log(`\n200-project agreement: PDF in ${bigMs.toFixed(0)} ms, ${(bigPdf.length / 1024).toFixed(1)} KB`);

console.log(`\npeak RSS: ${mb(peakRss)} MB, heap used at end: ${mb(process.memoryUsage().heapUsed)} MB`);

// ---------------------------------------------------------------------------------------------
// The yearly batch through the real CLI (a fresh process, as a clerk runs it).
const ZV = new URL('../bin/zv.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'zv-bench-'));
function cliBatch(input: string, out: string): { seconds: number; peakMb: number; line: string } {
  const started = performance.now();
  const r = spawnSync(process.execPath, [ZV, 'batch', input, '--out', out, '--force'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`zv batch failed: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  const peakMb = Number(/peak memory (\d+) MB/.exec(line)?.[1] ?? NaN);
  return { seconds, peakMb, line };
}
try {
  const out26 = join(work, '2023');
  const b26 = cliBatch(new URL('../examples/aqb-2023-hessen.json', import.meta.url).pathname, out26);
  console.log(`\nCLI batch, 26 AQB agreements (examples/aqb-2023-hessen.json): ${b26.seconds.toFixed(2)} s wall incl. start-up, peak RSS ${b26.peakMb} MB`);

  const synthetic = Array.from({ length: 1000 }, (_, i) => {
    const n = String(i + 1).padStart(4, '0');
    return {
      partner: { id: `testkreis-${n}`, name: `Testkreis ${n}`, gender: 'm', nominative: `der Testkreis ${n}`, accusative: `den Testkreis ${n}`, dative: `dem Testkreis ${n}`, genitive: `des Testkreises ${n}`, locative: `im Testkreis ${n}`, seat: 'Teststadt' },
      amount: 10000 + i,
      measures: inputs[0].measures,
      signatories: { partner: [{ name: `Erika Muster ${n}`, role: 'Landrätin' }] },
    };
  });
  const bigInput = join(work, 'synthetic-1000.json');
  writeFileSync(bigInput, JSON.stringify({ type: 'aqb', year: 2023, date: '2023-05-30', signatories: { ministry: [{ name: 'Kai Klose', role: 'Staatsminister' }] }, agreements: synthetic }));
  const b1000 = cliBatch(bigInput, join(work, 'synthetic'));
  console.log(`CLI batch, 1.000 synthetic agreements (PDF + DOCX): ${b1000.seconds.toFixed(1)} s, peak RSS ${b1000.peakMb} MB  (targets: < 60 s, < 300 MB)`);
  rmSync(join(work, 'synthetic'), { recursive: true, force: true });

  // The alternative a clerk would otherwise use: LibreOffice converting the 26 DOCX to PDF in one call.
  const hasSoffice = spawnSync('soffice', ['--version'], { encoding: 'utf8' }).status === 0;
  if (hasSoffice) {
    const docx = readdirSync(out26).filter((f) => f.endsWith('.docx')).map((f) => join(out26, f));
    const started = performance.now();
    execFileSync('soffice', [`-env:UserInstallation=file://${join(work, 'lo-profile')}`, '--headless', '--convert-to', 'pdf', '--outdir', join(work, 'lo'), ...docx], { stdio: 'ignore' });
    const lo = (performance.now() - started) / 1000;
    console.log(`LibreOffice, 26 DOCX → PDF in one call: ${lo.toFixed(1)} s  → zv batch (DOCX + PDF) is ${(lo / b26.seconds).toFixed(1)}× faster (target ≥ 10×)`);
  } else {
    console.log('LibreOffice (soffice) not installed: comparison skipped');
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
