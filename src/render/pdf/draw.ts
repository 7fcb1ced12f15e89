/**
 * Content-stream generation for laid-out pages.
 *
 * The fonts are Type0/Identity-H (embed-font.ts), where the Tw (word spacing) operator has no
 * effect. So every line is one text object whose TJ arrays carry the real space glyphs plus
 * explicit displacements: justification stretch after each space, and kerning between glyphs;
 * the letter-spacing the breaker chose for the line is its Tc. Extractors therefore see genuine
 * spaces between words and nothing extra inside words.
 *
 * Words broken across lines are wrapped in marked-content spans with /ActualText (pdfTeX's
 * accsupp technique): the first fragment carries the whole word, the rest an empty text, so
 * copy/paste and pdftotext give back "Ausbildungsfähigkeit", not "Ausbil- dungsfähigkeit".
 */
import type { FontStyle, Shaped } from './fonts.ts';
import type { LaidOutPage, TextLine, TextPiece } from './layout.ts';
import type { Tag } from './structure.ts';

export interface DrawFont {
  /** Resource name in the page's /Font dictionary, e.g. "F1". */
  resourceName: string;
  unitsPerEm: number;
  shape(text: string): Shaped;
  /** Glyph codes (4 hex digits each) of `text` in the embedded (subset) font. */
  encode(text: string): string[];
}

/** Compact, deterministic number formatting for content streams. */
export function num(n: number): string {
  const r = Math.round(n * 1000) / 1000;
  if (Object.is(r, -0) || r === 0) return '0';
  return String(r);
}

/** A PDF text string for ActualText: () for empty, else UTF-16BE with BOM as a hex string. */
export function pdfTextString(s: string): string {
  if (s === '') return '()';
  let hex = 'FEFF';
  for (let i = 0; i < s.length; i++) hex += s.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0');
  return `<${hex}>`;
}

/** Text state that persists across text objects on a page (ISO 32000-1 § 9.3.1): only Tc here. */
interface TextState {
  tc: number;
}

function drawLine(line: TextLine, fonts: Record<FontStyle, DrawFont>, out: string[], state: TextState = { tc: 0 }) {
  out.push('BT');
  let i = 0;
  const pieces = line.pieces;
  let curFont = '';
  while (i < pieces.length) {
    // Group consecutive pieces belonging to the same span (or to no span).
    const spanId = pieces[i]!.span?.id;
    let j = i;
    while (j < pieces.length && pieces[j]!.span?.id === spanId) j++;
    const span = pieces[i]!.span;
    if (span) out.push(`/Span <</ActualText ${pdfTextString(span.actualText)}>> BDC`);
    // Within the group, one TJ per font/size run, each positioned absolutely with Tm so that
    // rounding cannot accumulate across runs.
    let k = i;
    while (k < j) {
      const first = pieces[k]!;
      let l = k;
      while (l < j && pieces[l]!.style === first.style && pieces[l]!.size === first.size && pieces[l]!.letterSpacing === first.letterSpacing) l++;
      const font = fonts[first.style];
      const fontKey = `${font.resourceName} ${num(first.size)}`;
      if (fontKey !== curFont) {
        out.push(`/${fontKey} Tf`);
        curFont = fontKey;
      }
      // Letter-spacing chosen by the line breaker (Tc: added to every glyph's advance).
      const tc = Number(num(first.letterSpacing ?? 0));
      if (tc !== state.tc) {
        out.push(`${num(tc)} Tc`);
        state.tc = tc;
      }
      out.push(`1 0 0 1 ${num(first.x)} ${num(line.y)} Tm`);
      out.push(tjArray(pieces.slice(k, l), font) + ' TJ');
      k = l;
    }
    if (span) out.push('EMC');
    i = j;
  }
  out.push('ET');
}

function tjArray(pieces: TextPiece[], font: DrawFont): string {
  const parts: string[] = [];
  let hexRun = '';
  const flushHex = () => {
    if (hexRun) parts.push(`<${hexRun}>`);
    hexRun = '';
  };
  const size = pieces[0]!.size;
  let x = pieces[0]!.x;
  const k = 1000 / font.unitsPerEm;
  for (const p of pieces) {
    const gap = p.x - x;
    if (Math.abs(gap) > 0.0005) {
      flushHex();
      parts.push(num((-gap * 1000) / size));
    }
    const shaped = font.shape(p.text);
    const codes = font.encode(p.text);
    if (codes.length !== shaped.glyphIds.length) throw new Error(`glyph count mismatch for ${JSON.stringify(p.text)}`);
    for (let g = 0; g < codes.length; g++) {
      hexRun += codes[g];
      // Kerning: the PDF advances by the nominal width (/W); shift by the difference.
      const adj = (shaped.nominal[g]! - shaped.advances[g]!) * k;
      if (Math.abs(adj) > 0.0005) {
        flushHex();
        parts.push(num(adj));
      }
    }
    x = p.x + p.width;
  }
  flushHex();
  return `[${parts.join(' ')}]`;
}

/**
 * Opens the marked-content sequence of a tagged item (structure.ts StructWriter.begin); closed
 * with EMC. `props` are extra property-list entries (e.g. "/ActualText <…>").
 */
export type MarkContent = (tag: Tag | undefined, props?: string) => string;

const TEXT_SHOW = /(?:^|\s)(?:Tj|TJ|'|")$/;
const SPAN_BEGIN = /^\/Span <<(.*)>> BDC$/;

/**
 * Puts the operators of one tagged text run into MCID sequences. A /Span ActualText sequence
 * becomes an MCID sequence of its own carrying the ActualText, instead of being nested: poppler
 * (pdfinfo -struct-text) loses the rest of a sequence after a nested one without MCID. A sequence
 * opens lazily before a text-showing operator and closes before ET, so it never spans text objects.
 */
function markRun(ops: string[], tag: Tag, mark: MarkContent, out: string[]) {
  let open = false;
  let inSpan = false;
  for (const op of ops) {
    const span = SPAN_BEGIN.exec(op);
    if (span) {
      if (open) out.push('EMC');
      out.push(mark(tag, span[1]!.trim()));
      open = inSpan = true;
    } else if (op === 'EMC' && inSpan) {
      out.push('EMC');
      open = inSpan = false;
    } else if (op === 'ET') {
      if (open) out.push('EMC');
      open = inSpan = false;
      out.push(op);
    } else {
      if (!open && TEXT_SHOW.test(op)) {
        out.push(mark(tag));
        open = true;
      }
      out.push(op);
    }
  }
  if (open) out.push('EMC');
}

/** Pieces of a line grouped into consecutive runs of the same tag (a list label vs. the item text). */
function tagRuns(line: TextLine): { tag: Tag | undefined; pieces: TextPiece[] }[] {
  const runs: { tag: Tag | undefined; pieces: TextPiece[] }[] = [];
  for (const p of line.pieces) {
    const tag = p.tag ?? line.tag;
    const last = runs[runs.length - 1];
    if (last && last.tag === tag) last.pieces.push(p);
    else runs.push({ tag, pieces: [p] });
  }
  return runs;
}

/**
 * The content stream of one page. With `mark`, every text line and rule is wrapped in a
 * marked-content sequence (an MCID of its structure node, or an artifact), so that no content
 * is left outside the structure tree (PDF/UA-1 § 7.1).
 */
export function pageContent(page: LaidOutPage, fonts: Record<FontStyle, DrawFont>, mark?: MarkContent): string {
  const out: string[] = ['0 g 0 G'];
  const state: TextState = { tc: 0 };
  for (const item of page.items) {
    if (item.kind === 'text') {
      if (!mark) drawLine(item, fonts, out, state);
      else
        for (const run of tagRuns(item)) {
          const ops: string[] = [];
          drawLine(run.pieces.length === item.pieces.length ? item : { ...item, pieces: run.pieces }, fonts, ops, state);
          if (run.tag && 'node' in run.tag) markRun(ops, run.tag, mark, out);
          else out.push(mark(run.tag), ...ops, 'EMC');
        }
    } else if (item.kind === 'rule') {
      if (mark) out.push(mark(item.tag));
      out.push(`q ${num(item.lineWidth)} w ${num(item.x1)} ${num(item.y)} m ${num(item.x2)} ${num(item.y)} l S Q`);
      if (mark) out.push('EMC');
    }
  }
  return out.join('\n') + '\n';
}
