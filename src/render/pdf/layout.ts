/**
 * Layout: line breaking, hyphenation and pagination of a DocumentTree into positioned boxes.
 *
 * Pure apart from the injected Measurer (font metrics), so it is deterministic and testable
 * without writing a PDF. Output coordinates are PDF user space (points, origin bottom-left).
 *
 * Model: every block is turned into "flow lines" (line boxes with a height, a collapsible space
 * before, and a flag saying whether a page break may fall before them). Keep-with-next,
 * widow/orphan control and the unsplittable signature block are all expressed through that flag,
 * so the paginator itself stays a simple first-fit with backtracking to the last legal break.
 */
import type {
  Block,
  DocumentTree,
  HeadingBlock,
  ListBlock,
  ParagraphBlock,
  Run,
  SignatureBlock,
  SignatorySlot,
  TitleBlock,
} from '../../document/tree.ts';
import type { FontStyle } from './fonts.ts';
import { styleOf } from './fonts.ts';
import { breakPoints } from './hyphenate.ts';
import { breakParagraph } from './linebreak.ts';
import type { Item } from './linebreak.ts';
import { ARTIFACT_LAYOUT, ARTIFACT_PAGINATION, StructNodes } from './structure.ts';
import type { StructNode, StructRole, Tag } from './structure.ts';

// ---------------------------------------------------------------------------------------------
// Geometry and typographic constants

const CM = 72 / 2.54;

export const PAGE = {
  width: 595.28, // A4 portrait
  height: 841.89,
  marginLeft: 2.5 * CM,
  marginRight: 2.5 * CM,
  marginTop: 2 * CM,
  /** Bottom of the text area; the footer sits inside this margin. */
  marginBottom: 2.5 * CM,
  footerBaseline: 1.25 * CM,
  footerSize: 9,
} as const;

export const TEXT_WIDTH = PAGE.width - PAGE.marginLeft - PAGE.marginRight;
const BODY_HEIGHT = PAGE.height - PAGE.marginTop - PAGE.marginBottom;

export const BODY_SIZE = 11;
export const LINE_FACTOR = 1.35;
export const PARAGRAPH_AFTER = 7;
export const LIST_ITEM_GAP = 3;
export const LIST_GAP_AFTER_LABEL = 6;
export const LIST_INDENT = 14;

export const HEADING = {
  1: { size: 12, before: 18, after: 3 },
  2: { size: 11, before: 3, after: 3 },
  3: { size: 11, before: 6, after: 3 },
} as const;

export const TITLE_FIRST_SIZE = 16;
export const TITLE_SIZE = 12;
export const TITLE_LINE_GAP = 5;
export const TITLE_AFTER = 14;

export const SIG = {
  before: 34,
  columnShare: 0.45,
  /** Height of the blank area where the signature (and later its stamp) goes: 2 cm. */
  slotHeight: 2 * CM,
  gapAfterPlaceLine: 4,
  gapBetweenSignatories: 16,
  /** Gap between the signature rule and the name below it. */
  gapAfterRule: 2,
  ruleWidth: 0.5,
} as const;

const EPS = 0.01;

// ---------------------------------------------------------------------------------------------
// Public result types

export interface Measurer {
  /** Width in points of `text` in `style` at `size` (kerning included). */
  width(style: FontStyle, size: number, text: string): number;
  hasGlyph(style: FontStyle, codePoint: number): boolean;
  /** Number of glyphs `text` shapes to (for letter-spacing). */
  glyphs(style: FontStyle, text: string): number;
  /** Font ascent/descent in em (descent negative). */
  ascent: number;
  descent: number;
}

/** A span that replaces the text of its pieces for extraction (/ActualText). */
export interface Span {
  id: number;
  actualText: string;
}

export interface TextPiece {
  text: string;
  style: FontStyle;
  size: number;
  /** Left edge (PDF x). */
  x: number;
  width: number;
  span?: Span;
  /** Letter-spacing (PDF Tc, points) the breaker chose for this piece's line; `width` includes it. */
  letterSpacing?: number;
  /** Overrides the line's tag for this piece (a list label: Lbl inside the item's LI). */
  tag?: Tag;
}

export interface TextLine {
  kind: 'text';
  /** Baseline (PDF y). */
  y: number;
  pieces: TextPiece[];
  /** Structure node (or artifact) the line's content belongs to. */
  tag?: Tag;
}

export interface RuleBox {
  kind: 'rule';
  x1: number;
  x2: number;
  y: number;
  lineWidth: number;
  tag?: Tag;
}

/** The blank area above a signature rule; the signature field widget covers exactly this rect. */
export interface SignatureSlotBox {
  kind: 'signature-slot';
  slot: SignatorySlot;
  /** [x1, y1, x2, y2] in PDF user space. */
  rect: [number, number, number, number];
  /** The Form structure node the widget belongs to. */
  node?: number;
}

/** The blank after "<place>, den" when the date is left open for a later stamp. */
export interface DateSlotBox {
  kind: 'date-slot';
  party: 'ministry' | 'partner';
  /** Baseline of the place line, for a stamp in the same font size. */
  baseline: number;
  rect: [number, number, number, number];
}

export type PageItem = TextLine | RuleBox | SignatureSlotBox | DateSlotBox;

/** Which lines of which block ended up on a page (for inspection and pagination tests). */
export interface PageFragment {
  /** Index into tree.blocks. */
  block: number;
  kind: Block['kind'];
  /** First and last line (0-based, inclusive) of the block on this page, and the block's line count. */
  from: number;
  to: number;
  lines: number;
}

export interface LaidOutPage {
  items: PageItem[];
  fragments: PageFragment[];
}

export interface Layout {
  width: number;
  height: number;
  pages: LaidOutPage[];
  /** Logical structure in reading order (node 0: Document); items refer to it by index. */
  structure: StructNode[];
}

// ---------------------------------------------------------------------------------------------
// Inline model: words made of uniformly styled segments, broken into lines by total-fit breaking

interface Seg {
  text: string;
  style: FontStyle;
  /** Part of a proper name: no hyphenation inside (Run.noHyphenate). */
  noHyphenate?: boolean;
}

interface Word {
  segs: Seg[];
  text: string;
  /** Style of the space preceding the word (null at paragraph start). */
  gapStyle: FontStyle | null;
  /** The space before the word is a tie (U+00A0 in the tree): no break there. */
  gapTie?: boolean;
}

/** A word or word fragment placed on a line. */
interface LineWord {
  segs: Seg[];
  width: number;
  /** Draw a (soft) hyphen after the fragment, in this style. */
  hyphen?: FontStyle;
  /** Word broken across lines: 'first' fragment carries the whole word as ActualText, 'rest' an empty one. */
  split?: { part: 'first'; whole: string } | { part: 'rest' };
  gapStyle: FontStyle | null;
  gapTie?: boolean;
}

interface BuiltLine {
  words: LineWord[];
  natural: number;
  last: boolean;
  /**
   * The line ends at a word space: the space is drawn (past the last word, in the margin, invisible)
   * so that text extraction and the structure text, which concatenate what is drawn, keep the two
   * words apart — and a line without it ends inside a word, joined with the next line.
   */
  spaceAfter?: FontStyle;
  /** Set justified (spaces and letter-spacing take up the measure) rather than ragged. */
  justify: boolean;
}

interface Ctx {
  m: Measurer;
  spanSeq: number;
  /** Soft hyphenation at German pattern points (true unless LayoutOptions turn it off). */
  hyphenation: boolean;
  /** Structure nodes, allocated in reading order by the FlowBuilder. */
  struct: StructNodes;
}

export interface LayoutOptions {
  /** Hyphenate body text at German pattern points (default true). */
  hyphenation?: boolean;
}

/**
 * Typographic rules of the breaker, as data. Spaces stretch by half of their width at r = 1 (TeX's
 * value) and shrink by a quarter at r = -1; letter-spacing adds 0.025 em per glyph gap at r = 1 and
 * takes 0.015 em at r = -1, capped at ±0.04 em. Shrink is kept below TeX's third on purpose: Word and
 * LibreOffice cannot shrink spaces, and a PDF much denser than the DOCX would paginate differently
 * (with a third, 26 of the 52 agreements of 2023 got one page fewer than their DOCX).
 * As in TeX, a first pass tries the paragraph without inserted hyphens and accepts it if no line
 * needs r > 1 (spaces 1.5×); only then may hyphenation help, at the same tolerance; only if that finds
 * no solution do the fallback passes accept r = 1.8 (1.9×) and letter-spacing down to -0.04 em.
 */
export const TYPESETTING = {
  spaceStretch: 1 / 2,
  spaceShrink: 1 / 4,
  letterStretchEm: 0.025,
  letterShrinkEm: 0.015,
  maxLetterSpacingEm: 0.04,
  pretolerance: 1,
  tolerance: 1,
  emergencyTolerance: 1.8,
  linePenalty: 10,
  /** Penalty of a soft hyphen at a compound joint ("Ausbildungs-berufen") and inside a stem ("Ausbildungsbe-rufen"). */
  hyphenPenaltyJoint: 100,
  hyphenPenaltyStem: 300,
  /** Break after a hyphen the word already has ("Werra-Meißner-Kreis"). */
  explicitHyphenPenalty: 50,
  doubleHyphenDemerits: 10000,
  finalHyphenDemerits: 5000,
  adjacentDemerits: 10000,
  maxConsecutiveHyphens: 2,
  /** Ragged (left/centred) lines: the line end may stretch by this many em, spaces stay natural. */
  raggedStretchEm: 3,
} as const;

const SOFT_HYPHEN = '\u00AD';
/** Characters the document tree uses for a space that must not break (a tie, TeX's ~). */
const TIES = new Set(['\u00A0', '\u202F', '\u2007']);

/**
 * Normalises a character for drawing; returns '' to drop it. A character the fonts cannot draw is an
 * error here: validation refuses such input long before, and nothing is ever drawn as '?'.
 */
function normalizeChar(ch: string, style: FontStyle, m: Measurer): string {
  const cp = ch.codePointAt(0)!;
  if (ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v') return ' ';
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return '';
  // Soft hyphen and zero-width characters carry no glyph; the line breaker hyphenates on its own.
  if (ch === '\u00AD' || ch === '\u200B' || ch === '\u200C' || ch === '\u200D' || ch === '\u2060' || ch === '\uFEFF') return '';
  if (ch === ' ') return ' ';
  if (TIES.has(ch)) return '\u00A0';
  if (m.hasGlyph(style, cp)) return ch;
  // Typographic spaces without a glyph fall back to a normal space, the non-breaking hyphen to '-'.
  if (/\s/u.test(ch)) return ' ';
  if (ch === '\u2011' && m.hasGlyph(style, 0x2d)) return '-';
  throw new MissingGlyphError(ch, style);
}

/** A character none of the embedded fonts can draw reached the renderer. */
export class MissingGlyphError extends Error {
  constructor(
    readonly char: string,
    readonly style: FontStyle,
  ) {
    const cp = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    super(`Zeichen „${char}“ (U+${cp}) ist in der Schrift nicht enthalten`);
    this.name = 'MissingGlyphError';
  }
}

/** Splits runs into words at spaces; consecutive spaces collapse. A tie joins two words without a break. */
function toWords(runs: Run[], ctx: Ctx, forceBold = false): Word[] {
  const words: Word[] = [];
  let cur: Word | null = null;
  let pendingGap: FontStyle | null = null;
  let pendingTie = false;
  for (const run of runs) {
    const style = styleOf(forceBold || run.bold, run.italic);
    for (const raw of run.text) {
      const ch = normalizeChar(raw, style, ctx.m);
      if (ch === '') continue;
      if (ch === ' ' || ch === '\u00A0') {
        if (cur) {
          words.push(cur);
          cur = null;
        }
        pendingGap ??= style;
        pendingTie ||= ch === '\u00A0';
        continue;
      }
      if (!cur) {
        cur = { segs: [], text: '', gapStyle: words.length ? pendingGap : null, ...(words.length && pendingTie ? { gapTie: true } : {}) };
        pendingGap = null;
        pendingTie = false;
      }
      const last = cur.segs[cur.segs.length - 1];
      const noHyphenate = run.noHyphenate === true;
      if (last && last.style === style && !!last.noHyphenate === noHyphenate) last.text += ch;
      else cur.segs.push({ text: ch, style, ...(noHyphenate ? { noHyphenate } : {}) });
      cur.text += ch;
    }
  }
  if (cur) words.push(cur);
  return words;
}

/** The segments of word.text[from, to). */
function sliceSegs(word: Word, from: number, to: number): Seg[] {
  const out: Seg[] = [];
  let pos = 0;
  for (const seg of word.segs) {
    const s = pos;
    const e = pos + seg.text.length;
    pos = e;
    const a = Math.max(s, from);
    const b = Math.min(e, to);
    if (a < b) out.push({ ...seg, text: seg.text.slice(a - s, b - s) });
  }
  return out;
}

function segsWidth(segs: Seg[], size: number, m: Measurer): number {
  let w = 0;
  for (const s of segs) w += m.width(s.style, size, s.text);
  return w;
}

function segsGlyphs(segs: Seg[], m: Measurer): number {
  let g = 0;
  for (const s of segs) g += m.glyphs(s.style, s.text);
  return g;
}

/** Style of the character before `offset` (the one a hyphen at `offset` follows). */
function styleAt(word: Word, offset: number): FontStyle {
  return (segAt(word, offset - 1) ?? word.segs[word.segs.length - 1]!).style;
}

/** The segment holding code unit `offset` of the word. */
function segAt(word: Word, offset: number): Seg | undefined {
  let pos = 0;
  for (const seg of word.segs) {
    pos += seg.text.length;
    if (offset < pos) return seg;
  }
  return undefined;
}

/** A soft break at `offset` would split a proper name (or glue a suffix to one). */
function insideName(word: Word, offset: number): boolean {
  return segAt(word, offset - 1)?.noHyphenate === true || segAt(word, offset)?.noHyphenate === true;
}

/** What an item of the breaker's list stands for, to rebuild the lines afterwards. */
/** `gap`: the break before word `word`'s space (a line that ends between words). */
type Origin = { word: number; from: number; to: number } | { word: number; offset: number; soft: boolean; gap?: boolean } | null;

/** Code-unit offsets after each code point of word.text[from, to). */
function charEnds(text: string, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; ) {
    i += text.codePointAt(i)! > 0xffff ? 2 : 1;
    out.push(i);
  }
  return out;
}

/**
 * Total-fit line breaking (see linebreak.ts). Justified text may hyphenate at German pattern points
 * — never inside proper names, never in the paragraph's last word — and after hyphens the word
 * already has; ragged text (titles, headings, signature columns) breaks only at spaces and hard
 * hyphens. A word wider than the measure gets character-level breaks as the last resort.
 */
function breakLines(words: Word[], maxWidth: number, size: number, ctx: Ctx, hyphenate: boolean, justify = hyphenate): BuiltLine[] {
  const m = ctx.m;
  const T = TYPESETTING;
  const items: Item[] = [];
  const origin: Origin[] = [];
  const push = (item: Item, o: Origin) => {
    items.push(item);
    origin.push(o);
  };
  words.forEach((word, k) => {
    if (k > 0) {
      const gapStyle = word.gapStyle ?? 'regular';
      const sw = m.width(gapStyle, size, ' ');
      if (word.gapTie) push({ type: 'penalty', width: 0, glyphs: 0, penalty: Infinity, flagged: false }, null);
      // After a word that ends in a hyphen ("Ausbildungs- und"), the line end shows a hyphen too: the break
      // is a flagged penalty before the space (the space then vanishes), so the limit of two hyphenated
      // lines in a row counts it.
      else if (words[k - 1]!.text.endsWith('-')) push({ type: 'penalty', width: 0, glyphs: 0, penalty: 0, flagged: true }, { word: k, offset: 0, soft: false, gap: true });
      push({ type: 'glue', width: sw, stretch: justify ? sw * T.spaceStretch : 0, shrink: justify ? sw * T.spaceShrink : 0, glyphs: 1 }, { word: k, offset: 0, soft: false, gap: true });
    }
    const end = word.text.length;
    const isLast = k === words.length - 1;
    const points = breakPoints(word.text).filter((p) => {
      if (!p.hyphen) return true; // after a hard hyphen: always allowed
      return hyphenate && ctx.hyphenation && !isLast && !insideName(word, p.offset);
    });
    let from = 0;
    const pushBox = (a: number, b: number) => {
      const segs = sliceSegs(word, a, b);
      const w = segsWidth(segs, size, m);
      if (w > maxWidth + EPS && b - a > 1) {
        // Wider than the line: breakable between characters at a high cost, without a hyphen.
        let s = a;
        for (const e of charEnds(word.text, a, b)) {
          const cs = sliceSegs(word, s, e);
          if (s > a) push({ type: 'penalty', width: 0, glyphs: 0, penalty: 1000, flagged: false }, { word: k, offset: s, soft: false });
          push({ type: 'box', width: segsWidth(cs, size, m), glyphs: segsGlyphs(cs, m) }, { word: k, from: s, to: e });
          s = e;
        }
        return;
      }
      push({ type: 'box', width: w, glyphs: segsGlyphs(segs, m) }, { word: k, from: a, to: b });
    };
    for (const p of points) {
      if (p.offset <= from || p.offset >= end) continue;
      pushBox(from, p.offset);
      const hyphenStyle = styleAt(word, p.offset);
      const penalty = p.hyphen ? (p.joint ? T.hyphenPenaltyJoint : T.hyphenPenaltyStem) : T.explicitHyphenPenalty;
      push(
        { type: 'penalty', width: p.hyphen ? m.width(hyphenStyle, size, SOFT_HYPHEN) : 0, glyphs: p.hyphen ? 1 : 0, penalty, flagged: true, soft: p.hyphen },
        { word: k, offset: p.offset, soft: p.hyphen },
      );
      from = p.offset;
    }
    pushBox(from, end);
  });
  // Paragraph end: \parfillskip and a forced break.
  push({ type: 'glue', width: 0, stretch: Infinity, shrink: 0, glyphs: 0 }, null);
  push({ type: 'penalty', width: 0, glyphs: 0, penalty: -Infinity, flagged: false }, null);

  const breaks = words.length
    ? breakParagraph(items, {
        lineWidth: maxWidth,
        pretolerance: justify ? T.pretolerance : 1,
        tolerance: justify ? T.tolerance : 1,
        emergencyTolerance: justify ? T.emergencyTolerance : 10,
        linePenalty: T.linePenalty,
        doubleHyphenDemerits: T.doubleHyphenDemerits,
        finalHyphenDemerits: T.finalHyphenDemerits,
        adjacentDemerits: justify ? T.adjacentDemerits : 0,
        maxConsecutiveHyphens: T.maxConsecutiveHyphens,
        letterStretch: justify ? T.letterStretchEm * size : 0,
        letterShrink: justify ? T.letterShrinkEm * size : 0,
        emergencyLetterShrink: justify ? T.maxLetterSpacingEm * size : 0,
        raggedStretch: justify ? 0 : T.raggedStretchEm * size,
      })
    : [];

  // Rebuild the lines from the boxes between consecutive breaks.
  const lines: BuiltLine[] = [];
  let start = 0;
  breaks.forEach((br, li) => {
    const frags = new Map<number, { from: number; to: number }>();
    for (let i = start; i < br.position; i++) {
      const o = origin[i];
      if (items[i]!.type !== 'box' || !o || !('from' in o)) continue;
      const f = frags.get(o.word);
      if (f) f.to = o.to;
      else frags.set(o.word, { from: o.from, to: o.to });
    }
    const brOrigin = origin[br.position];
    const softAt = brOrigin && 'offset' in brOrigin && brOrigin.soft && items[br.position]!.type === 'penalty' ? brOrigin : null;
    const lineWords: LineWord[] = [];
    let natural = 0;
    let first = true;
    for (const [k, f] of frags) {
      const word = words[k]!;
      const segs = sliceSegs(word, f.from, f.to);
      const hyphen = softAt && softAt.word === k && softAt.offset === f.to ? styleAt(word, f.to) : undefined;
      const width = segsWidth(segs, size, m) + (hyphen ? m.width(hyphen, size, SOFT_HYPHEN) : 0);
      const whole = f.from === 0 && f.to === word.text.length;
      const gapStyle = first ? null : (word.gapStyle ?? 'regular');
      if (gapStyle) natural += m.width(gapStyle, size, ' ');
      natural += width;
      lineWords.push({
        segs,
        width,
        ...(hyphen ? { hyphen } : {}),
        ...(whole ? {} : { split: f.from > 0 ? { part: 'rest' as const } : { part: 'first' as const, whole: word.text } }),
        gapStyle,
        ...(!first && word.gapTie ? { gapTie: true } : {}),
      });
      first = false;
    }
    const lastLine = li === breaks.length - 1;
    const nextWord = brOrigin && 'gap' in brOrigin && brOrigin.gap ? words[brOrigin.word] : undefined;
    lines.push({ words: lineWords, natural, last: lastLine, justify, ...(!lastLine && nextWord ? { spaceAfter: nextWord.gapStyle ?? 'regular' } : {}) });
    // The next line starts after the break (glue and penalties at the break vanish).
    start = br.position + 1;
  });
  if (lines.length === 0) lines.push({ words: [], natural: 0, last: true, justify });
  return lines;
}

type Align = 'justify' | 'center' | 'left';

/**
 * Letter-spacing and extra space per gap that justify a line to `width`: both take their share
 * of the difference in proportion to their elasticity; letter-spacing is capped at ±0.04 em.
 */
function justification(line: BuiltLine, width: number, size: number, m: Measurer): { ls: number; extra: number } {
  const T = TYPESETTING;
  const gaps = line.words.length - 1;
  let glyphs = 0;
  let spaceStretch = 0;
  let spaceShrink = 0;
  line.words.forEach((lw, i) => {
    glyphs += segsGlyphs(lw.segs, m) + (lw.hyphen ? 1 : 0);
    if (i > 0 && lw.gapStyle) {
      const sw = m.width(lw.gapStyle, size, ' ');
      glyphs += 1;
      spaceStretch += sw * T.spaceStretch;
      spaceShrink += sw * T.spaceShrink;
    }
  });
  const diff = width - line.natural;
  const letterGaps = Math.max(0, glyphs - 1);
  const y = diff >= 0 ? spaceStretch + letterGaps * T.letterStretchEm * size : spaceShrink + letterGaps * T.letterShrinkEm * size;
  if (y <= 0 || letterGaps === 0) return { ls: 0, extra: gaps > 0 ? diff / gaps : 0 };
  const r = diff / y;
  const cap = T.maxLetterSpacingEm * size;
  // Rounded to the content stream's precision, so that the drawn Tc is exactly what was justified with.
  const ls = Math.round(Math.max(-cap, Math.min(cap, r * (diff >= 0 ? T.letterStretchEm : T.letterShrinkEm) * size)) * 1000) / 1000;
  const rest = diff - ls * letterGaps;
  return { ls, extra: gaps > 0 ? rest / gaps : 0 };
}

/** Turns a broken line into positioned pieces, with ActualText spans for split words. */
function placeLine(line: BuiltLine, x0: number, width: number, size: number, align: Align, ctx: Ctx): TextPiece[] {
  const m = ctx.m;
  const pieces: TextPiece[] = [];
  let x = x0;
  let extra = 0;
  let ls = 0;
  if (align === 'center') x += Math.max(0, (width - line.natural) / 2);
  // A paragraph's last line keeps its natural spacing, unless the breaker had to shrink it to fit.
  else if (align === 'justify' && line.justify && (!line.last || line.natural > width + EPS)) ({ ls, extra } = justification(line, width, size, m));
  // Every glyph advances by its width plus the letter-spacing (Tc).
  const adv = (style: FontStyle, text: string) => m.width(style, size, text) + ls * m.glyphs(style, text);
  const lsField = ls !== 0 ? { letterSpacing: ls } : {};
  line.words.forEach((lw, i) => {
    if (i > 0 && lw.gapStyle) {
      const space = lw.gapTie ? '\u00A0' : ' ';
      const sw = adv(lw.gapStyle, space);
      pieces.push({ text: space, style: lw.gapStyle, size, x, width: sw, ...lsField });
      x += sw + extra;
    }
    let span: Span | undefined;
    if (lw.split?.part === 'first') {
      // pdftotext (poppler) joins a line ending in '-' with the next one; a trailing space keeps
      // a whole word that itself ends in a hyphen ("Ausbildungs- und") apart from its successor.
      span = { id: ++ctx.spanSeq, actualText: lw.split.whole.endsWith('-') ? lw.split.whole + ' ' : lw.split.whole };
    } else if (lw.split?.part === 'rest') {
      span = { id: ++ctx.spanSeq, actualText: '' };
    }
    const segs = lw.segs.map((s) => ({ ...s }));
    // A whole word ending in '-' at a line end ("Ausbildungs-" before "und" on the next line): pdftotext
    // (poppler) removes a line-end '-' and joins the lines, whatever follows; ActualText "- " keeps them apart.
    let tailHyphen: Seg | undefined;
    if (!span && i === line.words.length - 1 && !line.last && !lw.hyphen) {
      const lastSeg = segs[segs.length - 1];
      if (lastSeg && lastSeg.text.endsWith('-')) {
        lastSeg.text = lastSeg.text.slice(0, -1);
        tailHyphen = { text: '-', style: lastSeg.style };
        if (lastSeg.text === '') segs.pop();
      }
    }
    for (const seg of segs) {
      const w = adv(seg.style, seg.text);
      pieces.push({ text: seg.text, style: seg.style, size, x, width: w, span, ...lsField });
      x += w;
    }
    if (lw.hyphen) {
      // The hyphen hyphenation inserts is a soft hyphen (U+00AD, ISO 32000-1 § 14.8.2.2.3): extractors drop it.
      const w = adv(lw.hyphen, SOFT_HYPHEN);
      pieces.push({ text: SOFT_HYPHEN, style: lw.hyphen, size, x, width: w, span, ...lsField });
      x += w;
    }
    if (tailHyphen) {
      const w = adv(tailHyphen.style, '-');
      pieces.push({ text: '-', style: tailHyphen.style, size, x, width: w, span: { id: ++ctx.spanSeq, actualText: '- ' }, ...lsField });
      x += w;
    }
  });
  if (line.spaceAfter) {
    pieces.push({ text: ' ', style: line.spaceAfter, size, x, width: adv(line.spaceAfter, ' '), ...lsField });
  }
  // poppler treats a line made only of one-character words ("§ 1") as letter-spaced text and
  // drops the spaces ("§1"). An ActualText span over the whole line keeps the words apart.
  const texts = line.words.map((lw) => lw.segs.map((s) => s.text).join(''));
  if (texts.length > 1 && texts.every((t) => Array.from(t).length === 1) && pieces.every((p) => !p.span)) {
    const span: Span = { id: ++ctx.spanSeq, actualText: line.words.map((lw, i) => (i > 0 ? (lw.gapTie ? '\u00A0' : ' ') : '') + texts[i]).join('') };
    for (const p of pieces) p.span = span;
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Flow lines and pagination

/** Items of a flow line, positioned relative to the line box top (top-down offsets). */
type Render = (top: number, out: PageItem[]) => void;

interface FlowLine {
  height: number;
  /** Space above the line; dropped when the line starts a page. */
  spaceBefore: number;
  /** May a page break fall immediately before this line? */
  breakBefore: boolean;
  render: Render;
  block: number;
  kind: Block['kind'];
  line: number;
  lines: number;
}

type LineBox = Pick<FlowLine, 'height' | 'render'>;

const pdfY = (topDown: number) => PAGE.height - topDown;

function baselineOffset(size: number, height: number, m: Measurer): number {
  return (height - (m.ascent - m.descent) * size) / 2 + m.ascent * size;
}

function textFlowLine(pieces: TextPiece[], size: number, m: Measurer, lineHeight = size * LINE_FACTOR): LineBox {
  const base = baselineOffset(size, lineHeight, m);
  return {
    height: lineHeight,
    render: (top, out) => {
      if (pieces.length) out.push({ kind: 'text', y: pdfY(top + base), pieces });
    },
  };
}

/** Break permission before line i of an n-line paragraph: at least two lines on either side. */
function widowOrphanOk(i: number, n: number): boolean {
  return n >= 4 && i >= 2 && i <= n - 2;
}

/** Tags the text and rule items that line boxes render (unless a piece of code tagged them already). */
function tagLines(lines: LineBox[], tagOf: (i: number) => Tag, from = 0) {
  for (let i = from; i < lines.length; i++) {
    const box = lines[i]!;
    const tag = tagOf(i);
    const render = box.render;
    lines[i] = {
      ...box,
      render: (top, out) => {
        const n = out.length;
        render(top, out);
        for (let k = n; k < out.length; k++) {
          const item = out[k]!;
          if ((item.kind === 'text' || item.kind === 'rule') && !item.tag) item.tag = tag;
        }
      },
    };
  }
}

class FlowBuilder {
  readonly lines: FlowLine[] = [];
  private prevAfter = 0;
  /** The previous block must stay with the first line(s) of the next one. */
  private keep = false;
  private blockIndex = -1;
  private blockKind: Block['kind'] = 'paragraph';

  constructor(private ctx: Ctx) {}

  private node(role: StructRole, parent = 0, extra?: Parameters<StructNodes['add']>[2]): number {
    return this.ctx.struct.add(role, parent, extra);
  }

  /** Adds the lines of one block. `breakInside(i)` says whether a break may fall before line i>0. */
  private addBlock(
    lines: LineBox[],
    before: number,
    after: number,
    breakInside: (i: number) => boolean,
    gapBefore: (i: number) => number = () => 0,
    keepWithNext = false,
  ) {
    lines.forEach((l, i) => {
      this.lines.push({
        ...l,
        block: this.blockIndex,
        kind: this.blockKind,
        line: i,
        lines: lines.length,
        spaceBefore: i === 0 ? Math.max(this.prevAfter, before) : gapBefore(i),
        breakBefore: i === 0 ? !this.keep : breakInside(i),
      });
    });
    if (lines.length) {
      this.prevAfter = after;
      this.keep = keepWithNext;
    }
  }

  title(block: TitleBlock) {
    const m = this.ctx.m;
    const lines: LineBox[] = [];
    const gaps: number[] = [];
    /** Title line of each flow line: the first ("Zielvereinbarung") is the H1, the others are P. */
    const owner: number[] = [];
    block.lines.forEach((runs, li) => {
      const size = li === 0 ? TITLE_FIRST_SIZE : TITLE_SIZE;
      const built = breakLines(toWords(runs, this.ctx, true), TEXT_WIDTH, size, this.ctx, false);
      built.forEach((bl, j) => {
        lines.push(textFlowLine(placeLine(bl, PAGE.marginLeft, TEXT_WIDTH, size, 'center', this.ctx), size, m));
        gaps.push(j === 0 && li > 0 ? TITLE_LINE_GAP : 0);
        owner.push(li);
      });
    });
    const nodes = block.lines.map((_, li) => this.node(li === 0 ? 'H1' : 'P'));
    tagLines(lines, (i) => ({ node: nodes[owner[i]!]! }));
    // The title block is one unit and stays with what follows.
    this.addBlock(lines, 0, TITLE_AFTER, () => false, (i) => gaps[i]!, true);
  }

  heading(block: HeadingBlock) {
    const spec = HEADING[block.level];
    const built = breakLines(toWords(block.runs, this.ctx, true), TEXT_WIDTH, spec.size, this.ctx, false);
    const lines = built.map((bl) => textFlowLine(placeLine(bl, PAGE.marginLeft, TEXT_WIDTH, spec.size, 'center', this.ctx), spec.size, this.ctx.m));
    const node = this.node(`H${block.level}`);
    tagLines(lines, () => ({ node }));
    this.addBlock(lines, spec.before, spec.after, () => false, undefined, true);
  }

  paragraph(block: ParagraphBlock) {
    const align = block.align ?? 'justify';
    const words = toWords(block.runs, this.ctx);
    // Only justified text is hyphenated: the centred amount line and left-aligned category lines never are.
    const built = breakLines(words, TEXT_WIDTH, BODY_SIZE, this.ctx, align === 'justify');
    const lines = built.map((bl) => textFlowLine(placeLine(bl, PAGE.marginLeft, TEXT_WIDTH, BODY_SIZE, align, this.ctx), BODY_SIZE, this.ctx.m));
    const node = this.node('P');
    tagLines(lines, () => ({ node }));
    const n = lines.length;
    // A category line marked keepWithNext, or an introductory paragraph ending in ':' ("… folgende Projekte:"),
    // stays with what it introduces.
    const text = block.runs.map((r) => r.text).join('').trimEnd();
    this.addBlock(lines, 0, PARAGRAPH_AFTER, (i) => widowOrphanOk(i, n), undefined, block.keepWithNext === true || text.endsWith(':'));
  }

  list(block: ListBlock) {
    const lines: LineBox[] = [];
    const breaks: boolean[] = [];
    const gaps: number[] = [];
    this.listLines(block, LIST_INDENT, 0, lines, breaks, gaps);
    this.addBlock(lines, 0, PARAGRAPH_AFTER, (i) => breaks[i]!, (i) => gaps[i]!);
  }

  private listLines(
    block: ListBlock,
    x0: number,
    depth: number,
    lines: LineBox[],
    breaks: boolean[],
    gaps: number[],
    parent = 0,
  ) {
    const m = this.ctx.m;
    const list = this.node('L', parent);
    const start = block.start ?? 1;
    const labels = block.items.map((_, i) => (block.ordered ? `${start + i}.` : depth % 2 === 0 ? '\u2022' : '\u2013'));
    const labelWidths = labels.map((l) => m.width('regular', BODY_SIZE, l));
    const box = Math.max(block.ordered ? 18 : 14, Math.max(0, ...labelWidths) + LIST_GAP_AFTER_LABEL);
    const textX = x0 + box;
    const width = Math.max(40, TEXT_WIDTH - textX);
    block.items.forEach((item, idx) => {
      const li = this.node('LI', list);
      const lbl = this.node('Lbl', li);
      const body = this.node('LBody', li);
      const built = breakLines(toWords(item.runs, this.ctx), width, BODY_SIZE, this.ctx, true);
      const n = built.length;
      built.forEach((bl, i) => {
        const pieces = placeLine(bl, PAGE.marginLeft + textX, width, BODY_SIZE, 'justify', this.ctx);
        if (i === 0) {
          const lw = labelWidths[idx]!;
          // Numbers right-aligned against the text, bullets at the indent.
          const lx = block.ordered ? PAGE.marginLeft + textX - LIST_GAP_AFTER_LABEL - lw : PAGE.marginLeft + x0;
          pieces.unshift({ text: labels[idx]!, style: 'regular', size: BODY_SIZE, x: lx, width: lw });
          pieces[0]!.tag = { node: lbl };
        }
        lines.push(textFlowLine(pieces, BODY_SIZE, m));
        tagLines(lines, () => ({ node: body }), lines.length - 1);
        // Between items a break is always fine (except before the very first line: that is the
        // block's own break, decided by addBlock); inside an item the widow/orphan rule applies.
        breaks.push(i === 0 ? idx > 0 || depth > 0 : widowOrphanOk(i, n));
        gaps.push(i === 0 && (idx > 0 || depth > 0) ? LIST_ITEM_GAP : 0);
      });
      if (item.children && item.children.items.length) {
        const first = lines.length;
        this.listLines(item.children, textX, depth + 1, lines, breaks, gaps, body);
        // Keep the parent item's last line with its first child.
        if (lines.length > first) breaks[first] = false;
      }
    });
  }

  signatures(block: SignatureBlock) {
    const m = this.ctx.m;
    const cols = block.columns;
    const colW = TEXT_WIDTH * SIG.columnShare;
    const lh = BODY_SIZE * LINE_FACTOR;
    const base = baselineOffset(BODY_SIZE, lh, m);
    // Column x positions: first at the left margin, last flush with the right margin.
    const colX = cols.map((_, i) => PAGE.marginLeft + (cols.length <= 1 ? 0 : ((TEXT_WIDTH - colW) * i) / (cols.length - 1)));
    type Op = (top: number, out: PageItem[]) => void;
    const ops: Op[] = [];
    /** Left-aligned lines inside a column from `y` on; returns the height used. */
    const textLines = (left: number, y: number, runs: Run[], bold = false, tag?: Tag): number => {
      const built = breakLines(toWords(runs, this.ctx, bold), colW, BODY_SIZE, this.ctx, false);
      built.forEach((bl, i) => {
        const pieces = placeLine(bl, left, colW, BODY_SIZE, 'left', this.ctx);
        const off = y + i * lh + base;
        ops.push((top, out) => out.push({ kind: 'text', y: pdfY(top + off), pieces, tag }));
      });
      return built.length * lh;
    };

    // Structure in reading order, party by party (the drawing below goes row by row across the
    // columns): per column a Div with the place line, the header lines, and per signatory the
    // Form element of the signature field followed by name, role and organisation lines.
    const sn = cols.map((col) => {
      const div = this.node('Div');
      return {
        place: this.node('P', div),
        headers: col.headerLines.map(() => this.node('P', div)),
        signatories: col.signatories.map((s) => ({
          form: this.node('Form', div),
          name: this.node('P', div),
          role: s.role ? this.node('P', div) : -1,
          organisation: s.organisationLines.map(() => this.node('P', div)),
        })),
      };
    });

    // Head of each column: "<place>, den <date>" (blank after "den" when the date is stamped
    // later), then — SGB II style — the organisation's name in bold.
    let headHeight = 0;
    cols.forEach((col, ci) => {
      const left = colX[ci]!;
      const placeText = `${col.place}, den`;
      let y = textLines(left, 0, [{ text: col.date ? `${placeText} ${col.date}` : placeText }], false, { node: sn[ci]!.place });
      if (!col.date) {
        const x1 = left + Math.min(m.width('regular', BODY_SIZE, placeText + ' '), colW);
        ops.push((top, out) =>
          out.push({ kind: 'date-slot', party: col.party, baseline: pdfY(top + base), rect: [x1, pdfY(top + lh), left + colW, pdfY(top)] }),
        );
      }
      if (col.headerLines.length) {
        y += SIG.gapAfterPlaceLine;
        col.headerLines.forEach((h, hi) => (y += textLines(left, y, [{ text: h }], true, { node: sn[ci]!.headers[hi]! })));
      }
      headHeight = Math.max(headHeight, y);
    });

    // Signatories in rows aligned across columns, so the rules of the first (second, …) signers line up.
    const rows = Math.max(0, ...cols.map((c) => c.signatories.length));
    let rowTop = headHeight + SIG.gapAfterPlaceLine;
    for (let row = 0; row < rows; row++) {
      if (row > 0) rowTop += SIG.gapBetweenSignatories;
      let rowHeight = 0;
      cols.forEach((col, ci) => {
        const s = col.signatories[row];
        if (!s) return;
        const left = colX[ci]!;
        const nodes = sn[ci]!.signatories[row]!;
        const slotTop = rowTop;
        const ruleOff = rowTop + SIG.slotHeight;
        ops.push((top, out) => {
          const ry = pdfY(top + ruleOff);
          // The widget covers the blank slot above the rule (the rule itself stays visible).
          out.push({ kind: 'signature-slot', slot: s, rect: [left, ry + SIG.ruleWidth, left + colW, pdfY(top + slotTop)], node: nodes.form });
          out.push({ kind: 'rule', x1: left, x2: left + colW, y: ry, lineWidth: SIG.ruleWidth, tag: ARTIFACT_LAYOUT });
        });
        let y = ruleOff + SIG.gapAfterRule;
        y += textLines(left, y, [{ text: s.name }], false, { node: nodes.name });
        if (s.role) y += textLines(left, y, [{ text: s.role }], false, { node: nodes.role });
        s.organisationLines.forEach((o, oi) => (y += textLines(left, y, [{ text: o }], false, { node: nodes.organisation[oi]! })));
        rowHeight = Math.max(rowHeight, y - rowTop);
      });
      rowTop += rowHeight;
    }
    const line: LineBox = {
      height: rows ? rowTop : headHeight,
      render: (top, out) => {
        for (const op of ops) op(top, out);
      },
    };
    // One flow line: the block can never be split; if it does not fit it moves as a whole. It never stands
    // alone on a page either: it takes the last two lines of the text with it (the whole paragraph if shorter),
    // so the signatures are visibly bound to the agreement.
    const last = this.lines[this.lines.length - 1];
    if (last && last.line > 0) last.breakBefore = false;
    this.keep = true;
    this.addBlock([line], SIG.before, 0, () => false);
  }

  block(b: Block, index: number) {
    this.blockIndex = index;
    this.blockKind = b.kind;
    switch (b.kind) {
      case 'title':
        return this.title(b);
      case 'heading':
        return this.heading(b);
      case 'paragraph':
        return this.paragraph(b);
      case 'list':
        return this.list(b);
      case 'signatures':
        return this.signatures(b);
    }
  }
}

/** Splits flow lines into pages: first fit, backing up to the last line before which a break is allowed. */
export function paginate(lines: { height: number; spaceBefore: number; breakBefore: boolean }[], bodyHeight = BODY_HEIGHT): [number, number][] {
  const pages: [number, number][] = [];
  let start = 0;
  while (start < lines.length) {
    let y = 0;
    let j = start;
    while (j < lines.length) {
      const l = lines[j]!;
      const need = (j === start ? 0 : l.spaceBefore) + l.height;
      if (j > start && y + need > bodyHeight + EPS) break;
      y += need;
      j++;
    }
    if (j >= lines.length) {
      pages.push([start, lines.length]);
      break;
    }
    let k = j;
    while (k > start && !lines[k]!.breakBefore) k--;
    if (k === start) k = j; // no legal break on this page: break where it overflows
    pages.push([start, k]);
    start = k;
  }
  return pages;
}

/**
 * One paragraph of plain text broken into ragged lines by the same total-fit breaker (for documents
 * drawn elsewhere, such as the Signaturprotokoll): breaks at spaces and after hard hyphens, between
 * characters only in a word wider than the line (hashes, URLs). Returns the lines' texts.
 */
export function breakText(text: string, style: FontStyle, size: number, maxWidth: number, m: Measurer): string[] {
  const ctx: Ctx = { m, spanSeq: 0, hyphenation: false, struct: new StructNodes() };
  const words = toWords([{ text, bold: style === 'bold' || style === 'boldItalic', italic: style === 'italic' || style === 'boldItalic' }], ctx);
  return breakLines(words, maxWidth, size, ctx, false, false).map((line) =>
    line.words.map((lw, i) => (i > 0 && lw.gapStyle ? (lw.gapTie ? '\u00A0' : ' ') : '') + lw.segs.map((sg) => sg.text).join('')).join(''),
  );
}

/** Lays out the whole document: blocks → flow lines → pages, plus the "Seite X von Y" footers. */
export function layoutDocument(tree: DocumentTree, m: Measurer, opts: LayoutOptions = {}): Layout {
  const ctx: Ctx = { m, spanSeq: 0, hyphenation: opts.hyphenation ?? true, struct: new StructNodes() };
  const flow = new FlowBuilder(ctx);
  tree.blocks.forEach((b, i) => flow.block(b, i));
  const ranges = paginate(flow.lines);
  if (ranges.length === 0) ranges.push([0, 0]);
  const pages: LaidOutPage[] = ranges.map(([a, b]) => {
    const items: PageItem[] = [];
    const fragments: PageFragment[] = [];
    let y = PAGE.marginTop;
    for (let i = a; i < b; i++) {
      const l = flow.lines[i]!;
      if (i > a) y += l.spaceBefore;
      l.render(y, items);
      y += l.height;
      const last = fragments[fragments.length - 1];
      if (last && last.block === l.block) last.to = l.line;
      else fragments.push({ block: l.block, kind: l.kind, from: l.line, to: l.line, lines: l.lines });
    }
    return { items, fragments };
  });
  const total = pages.length;
  pages.forEach((p, i) => {
    const text = `Seite ${i + 1} von ${total}`;
    const w = m.width('regular', PAGE.footerSize, text);
    p.items.push({
      kind: 'text',
      y: PAGE.footerBaseline,
      pieces: [{ text, style: 'regular', size: PAGE.footerSize, x: (PAGE.width - w) / 2, width: w }],
      tag: ARTIFACT_PAGINATION,
    });
  });
  return { width: PAGE.width, height: PAGE.height, pages, structure: ctx.struct.nodes };
}
