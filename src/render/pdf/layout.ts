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
const LINE_FACTOR = 1.35;
const PARAGRAPH_AFTER = 7;
const LIST_ITEM_GAP = 3;
const LIST_GAP_AFTER_LABEL = 6;
const LIST_INDENT = 14;

const HEADING = {
  1: { size: 12, before: 18, after: 3 },
  2: { size: 11, before: 3, after: 3 },
  3: { size: 11, before: 6, after: 3 },
} as const;

const TITLE_FIRST_SIZE = 16;
const TITLE_SIZE = 12;
const TITLE_LINE_GAP = 5;
const TITLE_AFTER = 14;

const SIG = {
  before: 34,
  columnShare: 0.45,
  /** Height of the blank area where the signature (and later its stamp) goes: 2 cm. */
  slotHeight: 2 * CM,
  gapAfterPlaceLine: 4,
  gapBetweenSignatories: 16,
  ruleWidth: 0.5,
} as const;

const EPS = 0.01;

// ---------------------------------------------------------------------------------------------
// Public result types

export interface Measurer {
  /** Width in points of `text` in `style` at `size` (kerning included). */
  width(style: FontStyle, size: number, text: string): number;
  hasGlyph(style: FontStyle, codePoint: number): boolean;
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
// Inline model: words made of uniformly styled segments

interface Seg {
  text: string;
  style: FontStyle;
}

interface Word {
  segs: Seg[];
  text: string;
  /** Style of the space preceding the word (null at paragraph start). */
  gapStyle: FontStyle | null;
}

/** A word or word fragment placed on a line. */
interface LineWord {
  segs: Seg[];
  width: number;
  /** Draw a hyphen after the fragment, in this style. */
  hyphen?: FontStyle;
  /** Word broken across lines: 'first' fragment carries the whole word as ActualText, 'rest' an empty one. */
  split?: { part: 'first'; whole: string } | { part: 'rest' };
  gapStyle: FontStyle | null;
}

interface BuiltLine {
  words: LineWord[];
  natural: number;
  last: boolean;
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

/** Normalises a character for drawing; returns '' to drop it. */
function normalizeChar(ch: string, style: FontStyle, m: Measurer): string {
  const cp = ch.codePointAt(0)!;
  if (ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v') return ' ';
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return '';
  // Soft hyphen and zero-width characters carry no glyph; the line breaker hyphenates on its own.
  if (ch === '\u00AD' || ch === '\u200B' || ch === '\u200C' || ch === '\u200D' || ch === '\u2060' || ch === '\uFEFF') return '';
  if (ch === ' ') return ' ';
  if (m.hasGlyph(style, cp)) return ch;
  // Typographic spaces without a glyph fall back to a (non-breaking) space; anything else to '?',
  // never to glyph 0 (.notdef is not allowed in PDF/A).
  if (/\s/u.test(ch)) return m.hasGlyph(style, 0xa0) ? '\u00A0' : ' ';
  if (ch === '\u2011' && m.hasGlyph(style, 0x2d)) return '-';
  return m.hasGlyph(style, 0xfffd) ? '\uFFFD' : '?';
}

/** Splits runs into words at (breaking) spaces; consecutive spaces collapse. */
function toWords(runs: Run[], ctx: Ctx, forceBold = false): Word[] {
  const words: Word[] = [];
  let cur: Word | null = null;
  let pendingGap: FontStyle | null = null;
  for (const run of runs) {
    const style = styleOf(forceBold || run.bold, run.italic);
    for (const raw of run.text) {
      const ch = normalizeChar(raw, style, ctx.m);
      if (ch === '') continue;
      if (ch === ' ') {
        if (cur) {
          words.push(cur);
          cur = null;
        }
        pendingGap ??= style;
        continue;
      }
      if (!cur) {
        cur = { segs: [], text: '', gapStyle: words.length ? pendingGap : null };
        pendingGap = null;
      }
      const last = cur.segs[cur.segs.length - 1];
      if (last && last.style === style) last.text += ch;
      else cur.segs.push({ text: ch, style });
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
    if (a < b) out.push({ text: seg.text.slice(a - s, b - s), style: seg.style });
  }
  return out;
}

function segsWidth(segs: Seg[], size: number, m: Measurer): number {
  let w = 0;
  for (const s of segs) w += m.width(s.style, size, s.text);
  return w;
}

function styleAt(word: Word, offset: number): FontStyle {
  let pos = 0;
  for (const seg of word.segs) {
    pos += seg.text.length;
    if (offset <= pos) return seg.style;
  }
  return word.segs[word.segs.length - 1]!.style;
}

/**
 * First-fit line breaking. A word that does not fit is hyphenated at the last German
 * hyphenation point (or after an existing hard hyphen) that still fits; only when even an empty
 * line cannot take the word is it broken between characters.
 */
function breakLines(words: Word[], maxWidth: number, size: number, ctx: Ctx, hyphenate: boolean): BuiltLine[] {
  const m = ctx.m;
  const lines: BuiltLine[] = [];
  let cur: LineWord[] = [];
  let curW = 0;
  const flush = (last: boolean) => {
    lines.push({ words: cur, natural: curW, last });
    cur = [];
    curW = 0;
  };
  for (const word of words) {
    const end = word.text.length;
    const points = breakPoints(word.text).filter((p) => (hyphenate && ctx.hyphenation) || !p.hyphen);
    let from = 0;
    for (;;) {
      const gapStyle = cur.length ? (word.gapStyle ?? 'regular') : null;
      const gapW = gapStyle ? m.width(gapStyle, size, ' ') : 0;
      const restSegs = sliceSegs(word, from, end);
      const restW = segsWidth(restSegs, size, m);
      const split: LineWord['split'] = from > 0 ? { part: 'rest' } : undefined;
      if (curW + gapW + restW <= maxWidth + EPS) {
        cur.push({ segs: restSegs, width: restW, split, gapStyle });
        curW += gapW + restW;
        break;
      }
      // Does not fit: try the longest fragment ending at a break point.
      const avail = maxWidth - curW - gapW;
      let placed = false;
      for (let i = points.length - 1; i >= 0; i--) {
        const p = points[i]!;
        if (p.offset <= from || p.offset >= end) continue;
        const segs = sliceSegs(word, from, p.offset);
        const hyphenStyle = p.hyphen ? styleAt(word, p.offset) : undefined;
        const w = segsWidth(segs, size, m) + (hyphenStyle ? m.width(hyphenStyle, size, '-') : 0);
        if (w <= avail + EPS) {
          cur.push({ segs, width: w, hyphen: hyphenStyle, split: from > 0 ? { part: 'rest' } : { part: 'first', whole: word.text }, gapStyle });
          curW += gapW + w;
          flush(false);
          from = p.offset;
          placed = true;
          break;
        }
      }
      if (placed) continue;
      if (cur.length) {
        flush(false);
        continue;
      }
      // Empty line and still too wide: break between characters as a last resort (no hyphen
      // is drawn; the ActualText span still gives back the whole token).
      const cps: number[] = [];
      for (let i = from; i < end; ) {
        const cp = word.text.codePointAt(i)!;
        i += cp > 0xffff ? 2 : 1;
        cps.push(i);
      }
      let lo = 0;
      let hi = cps.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (segsWidth(sliceSegs(word, from, cps[mid]!), size, m) <= maxWidth + EPS) lo = mid;
        else hi = mid - 1;
      }
      const cut = cps[lo]!;
      const segs = sliceSegs(word, from, cut);
      const w = segsWidth(segs, size, m);
      cur.push({ segs, width: w, split: from > 0 ? { part: 'rest' } : { part: 'first', whole: word.text }, gapStyle: null });
      curW = w;
      flush(false);
      from = cut;
    }
  }
  if (cur.length || lines.length === 0) flush(true);
  else lines[lines.length - 1]!.last = true;
  return lines;
}

type Align = 'justify' | 'center' | 'left';

/** Turns a broken line into positioned pieces, with ActualText spans for split words. */
function placeLine(line: BuiltLine, x0: number, width: number, size: number, align: Align, ctx: Ctx): TextPiece[] {
  const m = ctx.m;
  const pieces: TextPiece[] = [];
  const gaps = line.words.length - 1;
  let x = x0;
  let extra = 0;
  if (align === 'center') x += Math.max(0, (width - line.natural) / 2);
  else if (align === 'justify' && !line.last && gaps > 0) extra = Math.max(0, (width - line.natural) / gaps);
  line.words.forEach((lw, i) => {
    if (i > 0 && lw.gapStyle) {
      const sw = m.width(lw.gapStyle, size, ' ');
      pieces.push({ text: ' ', style: lw.gapStyle, size, x, width: sw });
      x += sw + extra;
    }
    const isLineEnd = i === line.words.length - 1;
    let span: Span | undefined;
    if (lw.split?.part === 'first') {
      // pdftotext (poppler) joins a line ending in '-' with the next one; a trailing space keeps
      // a whole word that itself ends in a hyphen ("Ausbildungs- und") apart from its successor.
      span = { id: ++ctx.spanSeq, actualText: lw.split.whole.endsWith('-') ? lw.split.whole + ' ' : lw.split.whole };
    } else if (lw.split?.part === 'rest') {
      span = { id: ++ctx.spanSeq, actualText: '' };
    }
    const segs = lw.segs.map((s) => ({ ...s }));
    // A whole word ending in '-' at a line end ("Ausbildungs-" before "und" on the next line):
    // its final hyphen gets ActualText "- " so poppler does not glue the two lines together.
    let tailHyphen: Seg | undefined;
    if (!span && isLineEnd && !line.last && !lw.hyphen) {
      const lastSeg = segs[segs.length - 1];
      if (lastSeg && lastSeg.text.endsWith('-')) {
        lastSeg.text = lastSeg.text.slice(0, -1);
        tailHyphen = { text: '-', style: lastSeg.style };
        if (lastSeg.text === '') segs.pop();
      }
    }
    for (const seg of segs) {
      const w = m.width(seg.style, size, seg.text);
      pieces.push({ text: seg.text, style: seg.style, size, x, width: w, span });
      x += w;
    }
    if (lw.hyphen) {
      const w = m.width(lw.hyphen, size, '-');
      pieces.push({ text: '-', style: lw.hyphen, size, x, width: w, span });
      x += w;
    }
    if (tailHyphen) {
      const w = m.width(tailHyphen.style, size, '-');
      pieces.push({ text: '-', style: tailHyphen.style, size, x, width: w, span: { id: ++ctx.spanSeq, actualText: '- ' } });
      x += w;
    }
  });
  // poppler treats a line made only of one-character words ("§ 1") as letter-spaced text and
  // drops the spaces ("§1"). An ActualText span over the whole line keeps the words apart.
  const texts = line.words.map((lw) => lw.segs.map((s) => s.text).join(''));
  if (texts.length > 1 && texts.every((t) => Array.from(t).length === 1) && pieces.every((p) => !p.span)) {
    const span: Span = { id: ++ctx.spanSeq, actualText: texts.join(' ') };
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
    const built = breakLines(words, TEXT_WIDTH, BODY_SIZE, this.ctx, true);
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
        let y = ruleOff + 2;
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
