/**
 * Font and colour-profile resources for the PDF renderer, plus text shaping/measuring.
 *
 * The TTF bytes and the ICC profile are read once per process. Shaping (fontkit `layout`,
 * which applies kerning) is cached per style and string, because the line breaker measures
 * the same words and word fragments over and over.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { templatesDir } from '../../paths.ts';
import fontkit from '@pdf-lib/fontkit';
import type { Font } from '@pdf-lib/fontkit';
import { memoize } from './memo.ts';

export type FontStyle = 'regular' | 'bold' | 'italic' | 'boldItalic';
export const FONT_STYLES: readonly FontStyle[] = ['regular', 'bold', 'italic', 'boldItalic'];

const FONT_FILES: Record<FontStyle, string> = {
  regular: 'LiberationSans-Regular.ttf',
  bold: 'LiberationSans-Bold.ttf',
  italic: 'LiberationSans-Italic.ttf',
  boldItalic: 'LiberationSans-BoldItalic.ttf',
};

export function styleOf(bold: boolean | undefined, italic: boolean | undefined): FontStyle {
  if (bold) return italic ? 'boldItalic' : 'bold';
  return italic ? 'italic' : 'regular';
}

/** Result of shaping one string in one style: glyph ids and kerned advances in font units. */
export interface Shaped {
  glyphIds: number[];
  /** Kerned advance per glyph (font units). */
  advances: number[];
  /** Nominal (unkerned) advance per glyph (font units) — what the PDF /W array says. */
  nominal: number[];
  /** Sum of kerned advances in 1/1000 em (multiply by size/1000 for points). */
  width1000: number;
  /** The text each glyph stands for (its code points), for the embedded font's ToUnicode map. */
  chars: string[];
}

const SOFT_HYPHEN = '\u00AD';

/** Metrics and shaping for one font style. Process-wide singleton per style. */
export class FontFace {
  readonly style: FontStyle;
  readonly bytes: Uint8Array;
  readonly font: Font;
  readonly unitsPerEm: number;
  /** Ascent/descent in em (descent negative). */
  readonly ascent: number;
  readonly descent: number;

  constructor(style: FontStyle, bytes: Uint8Array) {
    this.style = style;
    this.bytes = bytes;
    this.font = fontkit.create(bytes);
    memoizeLayout(this.font);
    this.unitsPerEm = this.font.unitsPerEm;
    this.ascent = this.font.ascent / this.unitsPerEm;
    this.descent = this.font.descent / this.unitsPerEm;
  }

  hasGlyph(codePoint: number): boolean {
    return this.font.hasGlyphForCodePoint(codePoint);
  }

  /** Glyphs and kerned advances of `text` (memoised: the line breaker measures the same words over and over). */
  readonly shape = memoize((text: string): Shaped => {
    // fontkit hides default-ignorable characters (a space glyph with zero advance); a soft hyphen
    // in drawn text is a hyphen the breaker inserted at a line end, so it shows the font's own
    // U+00AD glyph and keeps U+00AD for text extraction (ISO 32000-1 § 14.8.2.2.3).
    if (text.includes(SOFT_HYPHEN)) return this.shapeWithSoftHyphens(text);
    const run = this.font.layout(text);
    const scale = 1000 / this.unitsPerEm;
    const glyphIds: number[] = [];
    const advances: number[] = [];
    const nominal: number[] = [];
    const chars: string[] = [];
    let w = 0;
    for (let i = 0; i < run.glyphs.length; i++) {
      const g = run.glyphs[i]!;
      glyphIds.push(g.id);
      nominal.push(g.advanceWidth);
      chars.push(String.fromCodePoint(...g.codePoints));
      const adv = run.positions[i]!.xAdvance;
      advances.push(adv);
      w += adv;
    }
    return { glyphIds, advances, nominal, width1000: w * scale, chars };
  });

  private shapeWithSoftHyphens(text: string): Shaped {
    const hyphen = this.font.glyphForCodePoint(0xad);
    const out: Shaped = { glyphIds: [], advances: [], nominal: [], width1000: 0, chars: [] };
    text.split(SOFT_HYPHEN).forEach((part, i) => {
      if (i > 0) {
        out.glyphIds.push(hyphen.id);
        out.advances.push(hyphen.advanceWidth);
        out.nominal.push(hyphen.advanceWidth);
        out.chars.push(SOFT_HYPHEN);
        out.width1000 += (hyphen.advanceWidth * 1000) / this.unitsPerEm;
      }
      if (part === '') return;
      const s = this.shape(part);
      out.glyphIds.push(...s.glyphIds);
      out.advances.push(...s.advances);
      out.nominal.push(...s.nominal);
      out.chars.push(...s.chars);
      out.width1000 += s.width1000;
    });
    return out;
  }

  /** Width of `text` at `size` points, including kerning. */
  width(text: string, size: number): number {
    if (text === '') return 0;
    return (this.shape(text).width1000 * size) / 1000;
  }
}

/**
 * Shaping (GSUB/GPOS lookups) is the costliest step of rendering, and it happens twice per string:
 * once when we measure, once when pdf-lib encodes the text for the subset font. The agreements repeat
 * the same words, so the glyph runs of this process-wide font are memoised (bounded). pdf-lib only reads
 * `glyphs` from a run; we read `glyphs` and `positions` — neither is mutated.
 */
function memoizeLayout(font: Font): void {
  const original = font.layout.bind(font);
  const cached = memoize((text: string) => original(text));
  (font as { layout: Font['layout'] }).layout = ((text: string, features?: unknown) =>
    features === undefined ? cached(text) : original(text, features as never)) as Font['layout'];
}

/**
 * Text from outside the validated input (names in certificates, reasons typed at signing) may hold
 * characters the fonts lack. They are written as their code point ("[U+4E2D]"): never as '?', never as
 * the missing glyph (.notdef is not allowed in PDF/A).
 */
export function printableText(text: string, ...faces: FontFace[]): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || /\s/u.test(ch) || faces.every((f) => f.hasGlyph(cp))) out += ch;
    else out += `[U+${cp.toString(16).toUpperCase().padStart(4, '0')}]`;
  }
  return out;
}

export interface Resources {
  faces: Record<FontStyle, FontFace>;
  icc: Uint8Array;
}

let resources: Resources | undefined;

/** Loads fonts and the ICC profile once per process. */
export function loadResources(): Resources {
  if (resources) return resources;
  const faces = {} as Record<FontStyle, FontFace>;
  for (const style of FONT_STYLES) {
    faces[style] = new FontFace(style, new Uint8Array(readFileSync(join(templatesDir, 'fonts', FONT_FILES[style]))));
  }
  const icc = new Uint8Array(readFileSync(join(templatesDir, 'color', 'sRGB.icc')));
  resources = { faces, icc };
  return resources;
}
