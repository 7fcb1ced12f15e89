import { diffArrays } from 'diff';

/**
 * Normalises extracted text for word comparison with the reference texts: Unicode NFC, quote and dash
 * glyphs unified, page footers ("Seite 1 von 3") and list markers at line starts removed, whitespace collapsed.
 */
export function normaliseLines(text: string): string[] {
  return text
    .normalize('NFC')
    .replace(/\u00ad/g, '')
    .replace(/[„“”″"]/g, '"')
    .replace(/[‚‘’′`]/g, "'")
    .replace(/[‐‑‒–—−]/g, '-')
    .replace(/\f/g, '\n')
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '' && !/^Seite \d+ von \d+$/.test(l));
}

/**
 * Tokens that can be list labels ("1.", "•", "–") are not words: they are dropped on both sides alike,
 * so a label in the rendering and a dash or ordinal ("15.") in the reference cancel out symmetrically.
 */
const LABEL = /^(?:\d{1,3}\.|•|◦|▪|-)$/;

export function words(lines: string[]): string[] {
  return lines.join(' ').split(' ').filter((w) => w !== '' && !LABEL.test(w));
}

/** Lines from the first one up to (excluding) the first line starting with `stop`. */
export function until(lines: string[], stop: RegExp): string[] {
  const i = lines.findIndex((l) => stop.test(l));
  return i < 0 ? lines : lines.slice(0, i);
}

export interface WordComparison {
  ratio: number;
  referenceWords: number;
  actualWords: number;
  /** Up to 20 differences, as "-missing" / "+extra" snippets, for a readable failure message. */
  differences: string[];
}

/** Longest-common-subsequence word match: ratio = common words / max(reference, actual). */
export function compareWords(reference: string[], actual: string[]): WordComparison {
  const parts = diffArrays(reference, actual);
  let common = 0;
  const differences: string[] = [];
  for (const p of parts) {
    if (!p.added && !p.removed) common += p.count ?? p.value.length;
    else if (differences.length < 20) differences.push(`${p.added ? '+' : '-'}${p.value.join(' ')}`);
  }
  return { ratio: common / Math.max(reference.length, actual.length), referenceWords: reference.length, actualWords: actual.length, differences };
}
