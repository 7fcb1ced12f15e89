/**
 * German hyphenation points for the line breaker.
 *
 * Uses the `hyphen` package's de-1996 Liang patterns (`hyphen/de`). The package ships no types,
 * so it is loaded through createRequire with a minimal local signature.
 */
import { createRequire } from 'node:module';
import { memoize } from './memo.ts';
import compounds from './data/german-compounds.json' with { type: 'json' };

interface HyphenModule {
  hyphenateSync(text: string, options?: { hyphenChar?: string; minWordLength?: number; exceptions?: string[] }): string;
}

const require = createRequire(import.meta.url);
let hyphenDe: HyphenModule | undefined;
function hyphenator(): HyphenModule {
  hyphenDe ??= require('hyphen/de') as HyphenModule;
  return hyphenDe;
}

/** A place inside a word where a line may break. */
export interface BreakPoint {
  /** The break falls before word[offset] (so word.slice(0, offset) stays on the line). */
  offset: number;
  /** true: a hyphen must be drawn at the line end (soft hyphenation); false: the word already has one. */
  hyphen: boolean;
  /** A soft break at a compound joint ("Ausbildungs-berufen"), preferred over one inside a stem ("Ausbildungsbe-rufen"). */
  joint?: boolean;
}

/** Minimum letters in a word before pattern hyphenation is tried. */
export const MIN_HYPHENATE_LETTERS = 6;
/** Minimum letters left on the line / carried to the next line at a soft break (German house rule: 3 and 3). */
const LEFT_MIN = 3;
const RIGHT_MIN = 3;

/** Is the pattern point between `left` and `right` (lower case letters) a compound joint? */
function isJoint(left: string, right: string): boolean {
  if (left.length < 3 || right.length < 3) return false;
  return compounds.leftEndings.some((e) => left.endsWith(e)) || compounds.rightStems.some((s) => right.startsWith(s));
}

const LETTER = /\p{L}/u;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/**
 * Break points inside a single space-free word, in ascending order.
 *
 * - A word that contains a hard hyphen ("Werra-Meißner-Kreis") may only break right after such a
 *   hyphen (between two letters/digits); it is never pattern-hyphenated.
 * - Otherwise the letter core (without surrounding punctuation such as „ “ ( ) , .) is hyphenated
 *   with the German patterns if it has at least 6 letters and at least one lower-case letter
 *   (acronyms are left alone).
 */
export const breakPoints: (word: string) => BreakPoint[] = memoize((word) => compute(word));

function compute(word: string): BreakPoint[] {
  const chars = Array.from(word);
  if (word.includes('-')) {
    const points: BreakPoint[] = [];
    let offset = 0;
    for (let i = 0; i < chars.length; i++) {
      offset += chars[i]!.length;
      if (chars[i] === '-' && i > 0 && i < chars.length - 1 && LETTER_OR_DIGIT.test(chars[i - 1]!) && LETTER_OR_DIGIT.test(chars[i + 1]!)) {
        points.push({ offset, hyphen: false });
      }
    }
    return points;
  }
  // Letter core: strip leading/trailing non-letters.
  let start = 0;
  let end = chars.length;
  while (start < end && !LETTER.test(chars[start]!)) start++;
  while (end > start && !LETTER.test(chars[end - 1]!)) end--;
  const core = chars.slice(start, end);
  if (core.length < MIN_HYPHENATE_LETTERS) return [];
  // Only plain words: letters throughout, and not an all-caps acronym.
  if (!core.every((c) => LETTER.test(c))) return [];
  if (!core.some((c) => c !== c.toUpperCase())) return [];
  const hyphenated = hyphenator().hyphenateSync(core.join(''), { hyphenChar: '\u00AD', minWordLength: MIN_HYPHENATE_LETTERS });
  const parts = hyphenated.split('\u00AD');
  if (parts.length < 2) return [];
  const prefixUnits = chars.slice(0, start).join('').length;
  const coreLetters = core.length;
  const points: BreakPoint[] = [];
  let letters = 0;
  let units = 0;
  const lower = core.join('').toLowerCase();
  for (let i = 0; i < parts.length - 1; i++) {
    letters += Array.from(parts[i]!).length;
    units += parts[i]!.length;
    if (letters >= LEFT_MIN && coreLetters - letters >= RIGHT_MIN) {
      points.push({ offset: prefixUnits + units, hyphen: true, ...(isJoint(lower.slice(0, units), lower.slice(units)) ? { joint: true } : {}) });
    }
  }
  return points;
}
