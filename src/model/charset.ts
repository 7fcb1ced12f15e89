import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/**
 * Which characters the PDF can draw: free text that reaches the document is checked here, at
 * validation, so that no path (form, import, API, CLI) ever hands the renderer a character the
 * embedded fonts lack. The set of covered code points is generated from the four Liberation Sans
 * styles by scripts/font-coverage.ts (the model must not load fonts or import the renderer).
 */

interface Coverage {
  ranges: [number, number][];
}

const coverage: Coverage = JSON.parse(readFileSync(new URL('./data/font-coverage.json', import.meta.url), 'utf8'));
const starts = coverage.ranges.map((r) => r[0]);
const ends = coverage.ranges.map((r) => r[1]);

/** True when all four font styles have a glyph for `cp` (binary search over the sorted ranges). */
export function fontHasGlyph(cp: number): boolean {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < starts[mid]!) hi = mid - 1;
    else if (cp > ends[mid]!) lo = mid + 1;
    else return true;
  }
  return false;
}

// What the PDF renderer normalises instead of drawing (src/render/pdf/layout.ts normalizeChar):
// control characters become a space or vanish, soft hyphens and zero-width characters vanish,
// any Unicode space without a glyph becomes a (non-breaking) space, U+2011 becomes "-".
// Single-line fields reject control characters on their own, with their own message.
const VANISHING = new Set([0x00ad, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff]);
const WHITESPACE = /^\s$/u;

/** True when the renderer can put `ch` (one code point) on the page, drawn or normalised. */
export function isRenderable(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return true;
  if (VANISHING.has(cp) || cp === 0x2011) return true;
  if (fontHasGlyph(cp)) return true;
  return WHITESPACE.test(ch);
}

/** "U+2713", "U+1F600": at least four hex digits, upper case. */
export function codePointLabel(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The distinct characters of `s` the fonts cannot draw, in order of first occurrence (whole code points, never surrogate halves). */
export function missingCharacters(s: string): { char: string; codePoint: number }[] {
  const seen = new Set<number>();
  const out: { char: string; codePoint: number }[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (seen.has(cp) || isRenderable(ch)) continue;
    seen.add(cp);
    out.push({ char: ch, codePoint: cp });
  }
  return out;
}

const LISTED = 5;

/**
 * The German message for characters the fonts lack; the field is named by the issue's path
 * („Maßnahme 1, Projekt 3“ in the form, `measures[0].projects[2]` in the CLI and the API).
 */
export function missingCharactersMessage(missing: { char: string; codePoint: number }[]): string {
  const shown = missing.slice(0, LISTED).map((m) => `„${m.char}“ (${codePointLabel(m.codePoint)})`);
  if (missing.length === 1) return `Zeichen ${shown[0]} ist in der Schrift nicht enthalten`;
  const more = missing.length > LISTED ? ` und ${missing.length - LISTED} weitere` : '';
  return `Zeichen ${shown.join(', ')}${more} sind in der Schrift nicht enthalten`;
}

/** A zod refinement for every free-text string that reaches the document: `.superRefine(drawableText)`. */
export function drawableText(value: string, ctx: z.RefinementCtx<string>): void {
  const missing = missingCharacters(value);
  if (missing.length > 0) ctx.addIssue({ code: 'custom', message: missingCharactersMessage(missing), input: value });
}
