/**
 * German typesetting rules that belong in the document tree, so both renderers obey them:
 *
 * - ties: a non-breaking space (U+00A0) after "§", "Abs.", "Nr." …, between a number and its unit,
 *   inside "SGB II" and inside dates — rules as data (TIE_RULES);
 * - proper names: runs marked `noHyphenate` wherever a name of the agreement occurs (partner and
 *   seat in every case form, the ministry, signatories, projects, fixed names of the wording).
 *
 * Both only change how text may break, never the words: a tie replaces a space by a space.
 */
import type { Block, ListBlock, Run } from '../document/tree.ts';
import type { ResolvedAgreement } from './resolve.ts';

const MONTHS = 'Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember';
const ROMAN = '(?:I|II|III|IV|V|VI|VII|VIII|IX|X|XI|XII)\\b';

/** Each rule matches exactly one space (a plain U+0020) that must become a tie. */
export const TIE_RULES: { name: string; pattern: RegExp }[] = [
  { name: 'after § / §§', pattern: /(?<=(?:^|[\s(„])§§?) (?=\S)/g },
  { name: 'after Abs., Nr., Satz, S., Art. before a number', pattern: /(?<=(?:^|[\s(„])(?:Abs\.|Nr\.|Satz|S\.|Art\.)) (?=\d|[IVX]+\b)/g },
  { name: 'number before Euro, %, Prozent, Mio., Mrd.', pattern: /(?<=\d) (?=(?:Euro|Prozent|Mio\.|Mrd\.)(?![\p{L}])|%)/gu },
  { name: 'Mio./Mrd. before Euro', pattern: /(?<=(?:Mio|Mrd)\.) (?=Euro\b)/g },
  { name: 'inside SGB II, SGB III …', pattern: new RegExp(`(?<=\\bSGB) (?=${ROMAN})`, 'g') },
  { name: 'day and month of a date', pattern: new RegExp(`(?<=(?:^|\\s)\\d{1,2}\\.) (?=(?:${MONTHS})\\b)`, 'g') },
  { name: 'month and year of a date', pattern: new RegExp(`(?<=\\b(?:${MONTHS})) (?=\\d{4}\\b)`, 'g') },
];

/** Applies the tie rules to a text; the result has the same length (spaces become U+00A0). */
export function tie(text: string): string {
  const chars = text.split('');
  for (const rule of TIE_RULES) {
    rule.pattern.lastIndex = 0;
    for (const m of text.matchAll(rule.pattern)) chars[m.index!] = '\u00A0';
  }
  return chars.join('');
}

/** Names that occur in the wording and are never hyphenated, besides the agreement's own. */
export const FIXED_NAMES = ['Regierungspräsidium Kassel', 'Landeshauptstadt Wiesbaden', 'Wiesbaden', 'Darmstadt', 'Kassel', 'Hessen'];

const ARTICLE = /^(?:dem|der|des|den|die|das|vom|von der|von|im|in der)\s+/;

/** Every proper name of the agreement, longest first (so the longest occurrence wins). */
export function agreementNames(a: ResolvedAgreement): string[] {
  const p = a.partner;
  const m = a.ministry;
  const names = new Set<string>(FIXED_NAMES);
  for (const v of [p.name, p.nominative, p.accusative, p.dative, p.genitive, p.von, p.locative, p.seat, m.name, m.nominative, m.dative, m.genitive]) {
    if (v) names.add(v.replace(ARTICLE, ''));
  }
  for (const s of [...a.signatories.ministry, ...a.signatories.partner]) names.add(s.name);
  for (const x of a.measures) for (const proj of x.projects) names.add(proj);
  return [...names].filter((n) => n.trim().length > 1).sort((x, y) => y.length - x.length);
}

/** Ties and name marks for one sequence of runs. */
function typesetRuns(runs: Run[], names: string[]): Run[] {
  const text = tie(runs.map((r) => r.text).join(''));
  // Name occurrences as [start, end) ranges over the text; spaces and ties match each other.
  const plain = text.replace(/\u00A0/g, ' ');
  const marked = new Uint8Array(text.length);
  for (const name of names) {
    const n = name.replace(/\u00A0/g, ' ');
    for (let k = plain.indexOf(n); k >= 0; k = plain.indexOf(n, k + n.length)) {
      // Whole words only: "Kassel" must not mark "Kasseler" half-way.
      const before = plain[k - 1];
      const after = plain[k + n.length];
      if ((before && /\p{L}/u.test(before)) || (after && /\p{L}/u.test(after) && !/^(?:s|es)\b/u.test(plain.slice(k + n.length)))) continue;
      marked.fill(1, k, k + n.length);
    }
  }
  // Rebuild the runs: same emphasis boundaries, split further where a name starts or ends.
  const out: Run[] = [];
  let pos = 0;
  for (const run of runs) {
    const end = pos + run.text.length;
    let i = pos;
    while (i < end) {
      let j = i + 1;
      while (j < end && marked[j] === marked[i]) j++;
      const piece: Run = { ...run, text: text.slice(i, j) };
      if (marked[i]) piece.noHyphenate = true;
      const last = out[out.length - 1];
      if (last && last.bold === piece.bold && last.italic === piece.italic && last.noHyphenate === piece.noHyphenate) last.text += piece.text;
      else out.push(piece);
      i = j;
    }
    pos = end;
  }
  return out;
}

function typesetList(list: ListBlock, names: string[]): ListBlock {
  return { ...list, items: list.items.map((it) => ({ ...it, runs: typesetRuns(it.runs, names), ...(it.children ? { children: typesetList(it.children, names) } : {}) })) };
}

/** The blocks with German ties and proper names marked. */
export function typesetBlocks(blocks: Block[], names: string[]): Block[] {
  return blocks.map((b): Block => {
    switch (b.kind) {
      case 'title':
        return { ...b, lines: b.lines.map((l) => typesetRuns(l, names)) };
      case 'heading':
      case 'paragraph':
        return { ...b, runs: typesetRuns(b.runs, names) };
      case 'list':
        return typesetList(b, names);
      case 'signatures':
        return b;
    }
  });
}
