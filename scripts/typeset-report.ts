/**
 * Typesetting report: reads generated PDFs — their content streams, fonts and fields, not the layout
 * engine's state — and prints per batch how well the body text is set:
 *
 * - share of justified body lines (paragraph-final lines excluded) that end in a hyphen, and the
 *   longest run of such lines;
 * - word-space stretch: a space's width net of letter-spacing ÷ the font's natural space (max, p99);
 * - letter-spacing range (Tc) in em, the share of body lines set flush right;
 * - forbidden breaks: "§" / "Abs." / "Nr." … at a line end, a number torn from "Euro" or "%", "SGB"
 *   from its book, a date torn apart, a proper name hyphenated, a paragraph's last word hyphenated,
 *   a hyphen leaving fewer than three letters on either side.
 *
 * `node --import tsx scripts/typeset-report.ts` renders the three examples and the 2023 / 2024 AQB and
 * 2023 SGB II batches with the CLI and reports on them; with PDF files or directories as arguments it
 * reports on those. Part of `npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFNumber, PDFRawStream, PDFRef, PDFStream, decodePDFRawStream } from 'pdf-lib';
import { listPartners } from '../src/registry/partners.ts';
import { listMinistries } from '../src/registry/ministries.ts';

const PAGE_WIDTH = 595.28;
const MARGIN = (2.5 * 72) / 2.54;
const RIGHT_EDGE = PAGE_WIDTH - MARGIN;
const BODY_SIZE = 11;
const LINE_PITCH = BODY_SIZE * 1.35;

// ---------------------------------------------------------------------------------------------
// Reading content streams

const SPACE = new Set([' ', '\u00A0']);

interface Glyph {
  text: string;
  /** Advance of the glyph alone (font width × size), points. */
  width: number;
  /** Explicit TJ displacement after the glyph (positive = to the right), points. */
  after: number;
}

export interface PdfLine {
  page: number;
  y: number;
  x: number;
  /** Right edge of the last glyph (trailing letter-spacing excluded). */
  right: number;
  size: number;
  tc: number;
  glyphs: Glyph[];
  text: string;
}

interface FontInfo {
  widths: Map<number, number>;
  defaultWidth: number;
  toUnicode: Map<number, string>;
}

function streamBytes(doc: PDFDocument, obj: unknown): Uint8Array {
  const s = obj instanceof PDFRef ? doc.context.lookup(obj) : obj;
  if (s instanceof PDFRawStream) return decodePDFRawStream(s).decode();
  if (s instanceof PDFStream) return s.getContents();
  throw new Error('not a stream');
}

/** A ToUnicode CMap's bfchar and bfrange entries: glyph code → text. */
export function parseToUnicode(cmap: string): Map<number, string> {
  const map = new Map<number, string>();
  const hex = (h: string) => parseInt(h, 16);
  const utf16 = (h: string) => {
    const units: number[] = [];
    for (let i = 0; i < h.length; i += 4) units.push(hex(h.slice(i, i + 4)));
    return String.fromCharCode(...units);
  };
  for (const block of cmap.matchAll(/beginbfchar([\s\S]*?)endbfchar/g)) {
    for (const m of block[1]!.matchAll(/<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>/g)) map.set(hex(m[1]!), utf16(m[2]!));
  }
  for (const block of cmap.matchAll(/beginbfrange([\s\S]*?)endbfrange/g)) {
    for (const m of block[1]!.matchAll(/<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(<[0-9A-Fa-f]+>|\[[^\]]*\])/g)) {
      const lo = hex(m[1]!);
      const hi = hex(m[2]!);
      if (m[3]!.startsWith('[')) {
        const targets = [...m[3]!.matchAll(/<([0-9A-Fa-f]+)>/g)].map((t) => utf16(t[1]!));
        for (let c = lo; c <= hi; c++) map.set(c, targets[c - lo] ?? '');
      } else {
        const base = hex(m[3]!.slice(1, -1));
        for (let c = lo; c <= hi; c++) map.set(c, String.fromCodePoint(base + (c - lo)));
      }
    }
  }
  return map;
}

/** A CIDFont's /W array (both forms: `c [w1 w2 …]` and `c1 c2 w`): CID → width in 1/1000 em. */
export function parseCidWidths(doc: PDFDocument, w: PDFArray): Map<number, number> {
  const widths = new Map<number, number>();
  const a = w.asArray().map((o) => (o instanceof PDFRef ? doc.context.lookup(o) : o));
  for (let i = 0; i < a.length; ) {
    const first = (a[i] as PDFNumber).asNumber();
    const next = a[i + 1];
    if (next instanceof PDFArray) {
      next.asArray().forEach((v, k) => widths.set(first + k, (v as PDFNumber).asNumber()));
      i += 2;
    } else {
      const last = (next as PDFNumber).asNumber();
      const v = (a[i + 2] as PDFNumber).asNumber();
      for (let c = first; c <= last; c++) widths.set(c, v);
      i += 3;
    }
  }
  return widths;
}

function fontInfo(doc: PDFDocument, dict: PDFDict): FontInfo {
  const desc = doc.context.lookup((dict.lookup(PDFName.of('DescendantFonts'), PDFArray)).get(0), PDFDict);
  const w = desc.lookup(PDFName.of('W'));
  const widths = w instanceof PDFArray ? parseCidWidths(doc, w) : new Map<number, number>();
  const dw = desc.lookup(PDFName.of('DW'));
  const tu = dict.get(PDFName.of('ToUnicode'));
  const toUnicode = tu ? parseToUnicode(Buffer.from(streamBytes(doc, tu)).toString('latin1')) : new Map<number, string>();
  return { widths, defaultWidth: dw instanceof PDFNumber ? dw.asNumber() : 1000, toUnicode };
}

/** Tokens of a content stream: numbers, names, hex/literal strings, arrays as nested lists, operators. */
type Tok = number | string | { hex: string } | Tok[];

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  const stack: Tok[][] = [out];
  let i = 0;
  const top = () => stack[stack.length - 1]!;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '%') while (i < src.length && src[i] !== '\n') i++;
    else if (c === '[') {
      const arr: Tok[] = [];
      top().push(arr);
      stack.push(arr);
      i++;
    } else if (c === ']') {
      stack.pop();
      i++;
    } else if (c === '<' && src[i + 1] === '<') {
      top().push('<<');
      i += 2;
    } else if (c === '>' && src[i + 1] === '>') {
      top().push('>>');
      i += 2;
    } else if (c === '<') {
      const j = src.indexOf('>', i);
      top().push({ hex: src.slice(i + 1, j).replace(/\s/g, '') });
      i = j + 1;
    } else if (c === '(') {
      let depth = 1;
      let j = i + 1;
      while (j < src.length && depth > 0) {
        if (src[j] === '\\') j++;
        else if (src[j] === '(') depth++;
        else if (src[j] === ')') depth--;
        j++;
      }
      top().push({ hex: '' });
      i = j;
    } else {
      let j = i;
      while (j < src.length && !/[\s[\]<>()/%]/.test(src[j]!) ) j++;
      if (c === '/') {
        j = i + 1;
        while (j < src.length && !/[\s[\]<>()/%]/.test(src[j]!)) j++;
      }
      const word = src.slice(i, j);
      const n = Number(word);
      top().push(word !== '' && !Number.isNaN(n) && /^[-+.\d]/.test(word) ? n : word);
      i = Math.max(j, i + 1);
    }
  }
  return out;
}

/** The text lines (one per BT…ET) of every page. */
export async function readLines(bytes: Uint8Array): Promise<{ lines: PdfLine[]; fieldTops: Map<number, number> }> {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const lines: PdfLine[] = [];
  const fieldTops = new Map<number, number>();
  const cache = new Map<string, FontInfo>();
  doc.getPages().forEach((page, pageIndex) => {
    const node = page.node;
    const fonts = node.Resources()?.lookup(PDFName.of('Font'), PDFDict);
    const annots = node.Annots();
    if (annots) {
      for (const a of annots.asArray()) {
        const d = doc.context.lookup(a, PDFDict);
        if (d.get(PDFName.of('FT'))?.toString() !== '/Sig') continue;
        const rect = d.lookup(PDFName.of('Rect'), PDFArray).asArray().map((n) => (n as PDFNumber).asNumber());
        fieldTops.set(pageIndex, Math.max(fieldTops.get(pageIndex) ?? -Infinity, rect[3]!));
      }
    }
    const contents = node.get(PDFName.of('Contents'));
    const parts = contents instanceof PDFArray ? contents.asArray() : [contents];
    const src = parts.map((p) => Buffer.from(streamBytes(doc, p)).toString('latin1')).join('\n');
    const toks = tokenize(src);
    let font: FontInfo | null = null;
    let size = 0;
    let tc = 0;
    let x = 0;
    let y = 0;
    let line: PdfLine | null = null;
    const operands: Tok[] = [];
    for (const t of toks) {
      if (typeof t !== 'string' || t.startsWith('/') || t === '<<' || t === '>>') {
        operands.push(t);
        continue;
      }
      switch (t) {
        case 'BT':
          line = null;
          break;
        case 'ET':
          if (line && line.glyphs.length) lines.push(line);
          line = null;
          break;
        case 'Tf': {
          const name = (operands[0] as string).slice(1);
          size = operands[1] as number;
          const key = `${pageIndex}/${name}`;
          if (!cache.has(key)) cache.set(key, fontInfo(doc, fonts!.lookup(PDFName.of(name), PDFDict)));
          font = cache.get(key)!;
          break;
        }
        case 'Tc':
          tc = operands[0] as number;
          break;
        case 'Tm':
          x = operands[4] as number;
          y = operands[5] as number;
          break;
        case 'TJ':
        case 'Tj': {
          if (!font) break;
          line ??= { page: pageIndex, y, x, right: x, size, tc, glyphs: [], text: '' };
          if (line.glyphs.length === 0) line.x = x;
          line.tc = tc;
          const arr = t === 'TJ' ? (operands[0] as Tok[]) : [operands[0] as Tok];
          for (const el of arr) {
            if (typeof el === 'number') {
              const d = (-el / 1000) * size;
              x += d;
              const last = line.glyphs[line.glyphs.length - 1];
              if (last) last.after += d;
            } else if (typeof el === 'object' && 'hex' in el) {
              for (let k = 0; k + 4 <= el.hex.length; k += 4) {
                const code = parseInt(el.hex.slice(k, k + 4), 16);
                const w = ((font.widths.get(code) ?? font.defaultWidth) / 1000) * size;
                const text = font.toUnicode.get(code) ?? '\uFFFD';
                line.glyphs.push({ text, width: w, after: 0 });
                line.text += text;
                if (!SPACE.has(text)) line.right = x + w; // a drawn trailing space is not the line's edge
                x += w + tc;
              }
            }
          }
          break;
        }
      }
      operands.length = 0;
    }
  });
  return { lines, fieldTops };
}

// ---------------------------------------------------------------------------------------------
// Measuring

export interface DocumentMetrics {
  file: string;
  bodyLines: number;
  justifiedLines: number;
  hyphenatedLines: number;
  longestHyphenRun: number;
  flushRight: number;
  stretches: number[];
  letterSpacingEm: number[];
  forbidden: string[];
}

const isHyphen = (s: string) => s === '-' || s === '\u00AD';
const NO_BREAK_AFTER = /(?:^|\s)(?:§|§§|Abs\.|Nr\.|Satz|S\.|Art\.)$/;
const MONTHS = 'Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember';
const ROMAN = /^(?:I|II|III|IV|V|VI|VII|VIII|IX|X|XI|XII)\b/;

/** Proper names that must never be hyphenated: the registry's names (all case forms) and fixed names of the wording. */
export function protectedNames(extra: string[] = []): string[] {
  const names = new Set<string>(['Regierungspräsidium Kassel', 'Wiesbaden', 'Kassel', 'Darmstadt', 'Hessen', ...extra]);
  for (const p of listPartners()) for (const v of [p.name, p.seat, p.nominative, p.dative, p.genitive, p.accusative]) if (v) names.add(v);
  for (const m of listMinistries()) {
    for (const v of [m.name, m.nominative, m.dative, m.genitive]) if (v) names.add(v);
    for (const min of m.ministers ?? []) names.add(min.name);
  }
  return [...names];
}

export function measureDocument(file: string, lines: PdfLine[], fieldTops: Map<number, number>, names: string[]): DocumentMetrics {
  // Body lines: 11 pt text that is not centred and not in the signature block.
  const body = lines.filter((l) => {
    if (Math.abs(l.size - BODY_SIZE) > 0.01) return false;
    const top = fieldTops.get(l.page);
    if (top !== undefined && l.y < top + 2 * LINE_PITCH) return false;
    const left = l.x - MARGIN;
    const right = RIGHT_EDGE - l.right;
    if (left > 5 && Math.abs(left - right) < 1.5) return false; // centred
    return true;
  });
  const m: DocumentMetrics = { file, bodyLines: body.length, justifiedLines: 0, hyphenatedLines: 0, longestHyphenRun: 0, flushRight: 0, stretches: [], letterSpacingEm: [], forbidden: [] };
  let run = 0;
  for (let i = 0; i < body.length; i++) {
    const l = body[i]!;
    const next = body[i + 1];
    const flush = Math.abs(l.right - RIGHT_EDGE) < 0.5;
    if (flush) m.flushRight++;
    const continues = next !== undefined && ((next.page === l.page && Math.abs(l.y - next.y - LINE_PITCH) < 0.3) || (next.page === l.page + 1 && flush));
    m.letterSpacingEm.push(l.tc / l.size);
    if (!continues) {
      run = 0;
      continue;
    }
    // A justified, non-final line.
    m.justifiedLines++;
    for (let g = 0; g < l.glyphs.length - 1; g++) {
      const gl = l.glyphs[g]!;
      if (SPACE.has(gl.text) && gl.width > 0) m.stretches.push((gl.width + gl.after) / gl.width);
    }
    const text = l.text.trimEnd();
    const lastChar = text.slice(-1);
    const nextText = next!.text.trimStart();
    const where = `${file} p. ${l.page + 1}: „${text.slice(-30)}“ / „${nextText.slice(0, 30)}“`;
    if (isHyphen(lastChar)) {
      m.hyphenatedLines++;
      run++;
      m.longestHyphenRun = Math.max(m.longestHyphenRun, run);
    } else run = 0;
    // Forbidden breaks.
    if (NO_BREAK_AFTER.test(text)) m.forbidden.push(`nach Paragraphenzeichen/Abkürzung: ${where}`);
    if (/\d$/.test(text) && /^(?:Euro\b|%)/.test(nextText)) m.forbidden.push(`Zahl und Einheit getrennt: ${where}`);
    if (/(?:^|\s)SGB$/.test(text) && ROMAN.test(nextText)) m.forbidden.push(`SGB getrennt: ${where}`);
    if (new RegExp(`(?:^|\\s)\\d{1,2}\\.$`).test(text) && new RegExp(`^(?:${MONTHS})\\b`).test(nextText)) m.forbidden.push(`Datum getrennt: ${where}`);
    if (new RegExp(`(?:^|\\s)\\d{1,2}\\. (?:${MONTHS})$`).test(text) && /^\d{4}\b/.test(nextText)) m.forbidden.push(`Datum getrennt: ${where}`);
    // A hyphen the breaker inserted: a soft hyphen, or (older renderers) a '-' between two lower-case letters.
    const inserted = lastChar === '\u00AD' || (lastChar === '-' && /\p{Ll}-$/u.test(text) && /^\p{Ll}/u.test(nextText));
    if (inserted) {
      const head = text.slice(0, -1).split(/\s/).pop()!.replace(/^[^\p{L}]+/u, '');
      const tail = nextText.split(/\s/)[0]!;
      if ([...head.replace(/[^\p{L}]/gu, '')].length < 3 || [...tail.replace(/[^\p{L}]/gu, '')].length < 3) m.forbidden.push(`weniger als drei Buchstaben: ${where}`);
      const joined = (text.slice(0, -1) + nextText).replace(/\u00A0/g, ' ');
      const at = text.length - 1;
      const hit = names.find((n) => {
        for (let k = joined.indexOf(n); k >= 0; k = joined.indexOf(n, k + 1)) if (k < at && at < k + n.length) return true;
        return false;
      });
      if (hit) m.forbidden.push(`Eigenname getrennt (${hit}): ${where}`);
      // The next line is the paragraph's last and holds only the rest of this word.
      const after = body[i + 2];
      const nextFinal = !(after && ((after.page === next!.page && Math.abs(next!.y - after.y - LINE_PITCH) < 0.3) || (after.page === next!.page + 1 && Math.abs(next!.right - RIGHT_EDGE) < 0.5)));
      if (nextFinal && next!.text.trim().split(/\s+/).length === 1) m.forbidden.push(`letztes Wort des Absatzes getrennt: ${where}`);
    }
  }
  return m;
}

export interface BatchSummary {
  name: string;
  documents: number;
  hyphenShare: number;
  longestHyphenRun: number;
  stretchP99: number;
  stretchMax: number;
  letterSpacingMin: number;
  letterSpacingMax: number;
  flushRightShare: number;
  forbidden: string[];
}

const quantile = (xs: number[], q: number) => {
  if (!xs.length) return 1;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

export function summarise(name: string, docs: DocumentMetrics[]): BatchSummary {
  const sum = (f: (d: DocumentMetrics) => number) => docs.reduce((a, d) => a + f(d), 0);
  const stretches = docs.flatMap((d) => d.stretches);
  const ls = docs.flatMap((d) => d.letterSpacingEm);
  return {
    name,
    documents: docs.length,
    hyphenShare: sum((d) => d.hyphenatedLines) / Math.max(1, sum((d) => d.justifiedLines)),
    longestHyphenRun: Math.max(0, ...docs.map((d) => d.longestHyphenRun)),
    stretchP99: quantile(stretches, 0.99),
    stretchMax: Math.max(1, ...stretches),
    letterSpacingMin: Math.min(0, ...ls),
    letterSpacingMax: Math.max(0, ...ls),
    flushRightShare: sum((d) => d.flushRight) / Math.max(1, sum((d) => d.bodyLines)),
    forbidden: docs.flatMap((d) => d.forbidden),
  };
}

/** Names an agreement's input adds to the registry's: signatories and projects (from the PDF's attached input JSON). */
async function inputNames(bytes: Uint8Array): Promise<string[]> {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const names: string[] = [];
  const af = doc.catalog.lookup(PDFName.of('AF'));
  if (!(af instanceof PDFArray)) return names;
  for (const ref of af.asArray()) {
    const spec = doc.context.lookup(ref, PDFDict);
    const ef = spec.lookup(PDFName.of('EF'), PDFDict);
    const json = JSON.parse(Buffer.from(streamBytes(doc, ef.get(PDFName.of('F')))).toString('utf8'));
    const walk = (v: unknown, key = '') => {
      if (typeof v === 'string' && /^(?:name|title|project|projects)$/i.test(key)) names.push(v);
      else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    walk(json);
  }
  return names;
}

export async function measureFiles(name: string, files: string[]): Promise<BatchSummary> {
  const base = protectedNames();
  const docs: DocumentMetrics[] = [];
  for (const f of files) {
    const bytes = new Uint8Array(readFileSync(f));
    const { lines, fieldTops } = await readLines(bytes);
    docs.push(measureDocument(f.split('/').pop()!, lines, fieldTops, [...base, ...(await inputNames(bytes))]));
  }
  return summarise(name, docs);
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export function formatSummary(s: BatchSummary): string {
  return [
    `${s.name} (${s.documents} PDF)`,
    `  justified lines ending in a hyphen: ${pct(s.hyphenShare)}   longest run: ${s.longestHyphenRun}`,
    `  word-space stretch: p99 ${s.stretchP99.toFixed(2)}×  max ${s.stretchMax.toFixed(2)}×`,
    `  letter-spacing: ${s.letterSpacingMin.toFixed(3)} … ${s.letterSpacingMax.toFixed(3)} em   flush right: ${pct(s.flushRightShare)} of body lines`,
    `  forbidden breaks: ${s.forbidden.length}${s.forbidden.length ? '\n    ' + s.forbidden.slice(0, 12).join('\n    ') : ''}`,
  ].join('\n');
}

/** Renders the examples and the three year batches with the CLI into `dir`; returns the PDF files per set. */
export function renderSets(dir: string): Record<string, string[]> {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const zv = (...args: string[]) => execFileSync(process.execPath, [join(root, 'bin/zv.js'), ...args], { cwd: root, stdio: 'pipe' });
  const sets: Record<string, string[]> = {};
  const ex = ['aqb-2023-werra-meissner-kreis', 'aqb-2024-landkreis-offenbach', 'sgb2-2023-landkreis-kassel'];
  zv('generate', ...ex.map((e) => `examples/${e}.json`), '--out', join(dir, 'examples'), '--format', 'pdf');
  sets['examples'] = ex.map((e) => join(dir, 'examples', `${e}.pdf`));
  for (const b of ['aqb-2023-hessen', 'aqb-2024-hessen', 'sgb2-2023-hessen']) {
    zv('batch', `examples/${b}.json`, '--out', join(dir, b), '--format', 'pdf', '--quiet');
    sets[b] = pdfsIn(join(dir, b));
  }
  return sets;
}

function pdfsIn(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.pdf'))
    .sort()
    .map((f) => join(path, f));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  console.log('Typesetting report (read from the generated PDFs)\n');
  if (args.length) {
    for (const a of args) console.log(formatSummary(await measureFiles(a, pdfsIn(a))) + '\n');
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'zv-typeset-'));
    try {
      for (const [name, files] of Object.entries(renderSets(dir))) console.log(formatSummary(await measureFiles(name, files)) + '\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
