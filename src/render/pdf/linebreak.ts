/**
 * Total-fit paragraph breaking (Knuth & Plass, "Breaking Paragraphs into Lines", 1981 — TeX's
 * algorithm): the paragraph is a sequence of boxes, glue and penalties, and the breaker picks the
 * set of breaks with the least total demerits over the whole paragraph instead of filling each
 * line greedily.
 *
 * Besides the glue between words, every line can absorb part of its stretch or shrink through
 * letter-spacing (TeX/microtype's font expansion, here as tracking): each glyph gap of a line adds
 * `letterStretch` / `letterShrink` to the line's elasticity. The adjustment ratio r is shared by
 * glue and letters, so a line never stretches its spaces alone.
 *
 * Two rules go beyond TeX's defaults and are hard constraints, not just demerits: at most
 * `maxConsecutiveHyphens` hyphenated lines in a row, and lines looser than `tolerance` are rejected
 * (a second pass with a higher tolerance runs only when the first finds no solution at all).
 */

export interface BoxItem {
  type: 'box';
  width: number;
  /** Glyphs in the box (for letter-spacing elasticity). */
  glyphs: number;
}

export interface GlueItem {
  type: 'glue';
  width: number;
  stretch: number;
  shrink: number;
  glyphs: number;
}

export interface PenaltyItem {
  type: 'penalty';
  /** Width added at the line end when the break is taken here (the hyphen). */
  width: number;
  /** Glyphs added when the break is taken (1 for a drawn hyphen). */
  glyphs: number;
  /** -Infinity forces a break, +Infinity forbids one. */
  penalty: number;
  /** A hyphenated break (counts for consecutive-hyphen rules). */
  flagged: boolean;
  /** A break that hyphenation inserts (a pattern point), skipped by the first pass. */
  soft?: boolean;
}

export type Item = BoxItem | GlueItem | PenaltyItem;

export interface BreakParams {
  lineWidth: number;
  /** Largest adjustment ratio accepted by the first pass, which does not hyphenate (TeX \pretolerance). */
  pretolerance: number;
  /** Largest adjustment ratio accepted in the first pass. */
  tolerance: number;
  /** Largest ratio accepted in the fallback pass. */
  emergencyTolerance: number;
  /** Added to every line's badness (TeX \linepenalty). */
  linePenalty: number;
  /** Extra demerits when two consecutive lines end in a hyphen (TeX \doublehyphendemerits). */
  doubleHyphenDemerits: number;
  /** Extra demerits when the second-last line ends in a hyphen (TeX \finalhyphendemerits). */
  finalHyphenDemerits: number;
  /** Extra demerits when adjacent lines' fitness classes differ by more than one (TeX \adjdemerits). */
  adjacentDemerits: number;
  /** Hard limit on hyphenated lines in a row. */
  maxConsecutiveHyphens: number;
  /** Letter-spacing elasticity per glyph gap at r = ±1 (points). */
  letterStretch: number;
  letterShrink: number;
  /** Letter-spacing shrink the fallback passes may use, for a paragraph that cannot be set otherwise. */
  emergencyLetterShrink: number;
  /** Stretch every line but the last has at its end (ragged right / centred text; 0 when justified). */
  raggedStretch: number;
}

/** One chosen break: the line ends at item index `position` (a glue or penalty; the last item for the final line). */
export interface Break {
  position: number;
  ratio: number;
  flagged: boolean;
}

interface Node {
  position: number;
  line: number;
  fitness: number;
  /** Hyphenated lines in a row ending at this node. */
  hyphens: number;
  totalWidth: number;
  totalStretch: number;
  totalShrink: number;
  totalGlyphs: number;
  demerits: number;
  ratio: number;
  previous: Node | null;
}

const fitnessClass = (r: number) => (r < -0.5 ? 0 : r <= 0.5 ? 1 : r <= 1 ? 2 : 3);

/**
 * Breaks the items into lines; returns the breaks in order (the last one closes the paragraph).
 * The items must end with the paragraph's finishing sequence (infinite-stretch glue, forced break).
 */
export function breakParagraph(items: Item[], params: BreakParams): Break[] {
  // As TeX: first without inserted hyphens; then with them; then looser; finally anything that fits at all.
  return (
    run(items, params, params.pretolerance, false) ??
    run(items, params, params.tolerance) ??
    run(items, { ...params, letterShrink: params.emergencyLetterShrink }, params.emergencyTolerance) ??
    run(items, { ...params, letterShrink: params.emergencyLetterShrink }, Infinity, true, true)!
  );
}

function run(items: Item[], p: BreakParams, tolerance: number, hyphenate = true, allowOverfull = false): Break[] | null {
  // Running sums up to (excluding) each item, so a line's widths are differences of two sums.
  const n = items.length;
  const sumW = new Float64Array(n + 1);
  const sumY = new Float64Array(n + 1);
  const sumZ = new Float64Array(n + 1);
  const sumG = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const it = items[i]!;
    sumW[i + 1] = sumW[i]! + (it.type === 'penalty' ? 0 : it.width);
    sumY[i + 1] = sumY[i]! + (it.type === 'glue' ? it.stretch : 0);
    sumZ[i + 1] = sumZ[i]! + (it.type === 'glue' ? it.shrink : 0);
    sumG[i + 1] = sumG[i]! + (it.type === 'penalty' ? 0 : it.glyphs);
  }
  // After a break, the following glue and penalties vanish (until the next box): the next line starts there.
  const afterBreak = (i: number) => {
    let j = i + 1;
    while (j < n && items[j]!.type !== 'box' && !(items[j]!.type === 'penalty' && (items[j] as PenaltyItem).penalty === -Infinity)) j++;
    return j;
  };

  let active: Node[] = [
    { position: -1, line: 0, fitness: 1, hyphens: 0, totalWidth: 0, totalStretch: 0, totalShrink: 0, totalGlyphs: 0, demerits: 0, ratio: 0, previous: null },
  ];
  // Start index of the line that follows each node (node.position = -1 → 0).
  const startOf = (node: Node) => (node.position < 0 ? 0 : afterBreak(node.position));

  for (let i = 0; i < n; i++) {
    const it = items[i]!;
    let legal = false;
    if (it.type === 'penalty') legal = it.penalty !== Infinity && (hyphenate || !it.soft);
    else if (it.type === 'glue') legal = i > 0 && items[i - 1]!.type === 'box';
    if (!legal) continue;
    const pen = it.type === 'penalty' ? it : null;
    const flagged = pen?.flagged ?? false;
    const forced = pen?.penalty === -Infinity;

    const candidates: Node[] = [];
    const keep: Node[] = [];
    let bestOverfull: { node: Node; ratio: number } | null = null;
    for (const a of active) {
      const s = startOf(a);
      const width = sumW[i]! - sumW[s]! + (pen ? pen.width : 0);
      const stretch = sumY[i]! - sumY[s]!;
      const shrink = sumZ[i]! - sumZ[s]!;
      const glyphs = sumG[i]! - sumG[s]! + (pen ? pen.glyphs : 0);
      const gaps = Math.max(0, glyphs - 1);
      const diff = p.lineWidth - width;
      let ratio: number;
      if (diff > 0) {
        const y = stretch + gaps * p.letterStretch + p.raggedStretch;
        ratio = stretch === Infinity || y === Infinity ? 0 : y > 0 ? diff / y : Infinity;
      } else if (diff < 0) {
        const z = shrink + gaps * p.letterShrink;
        ratio = z > 0 ? diff / z : -Infinity;
      } else ratio = 0;
      if (stretch === Infinity) ratio = diff >= 0 ? 0 : ratio;

      // Too tight: this node can never start a line ending here or later.
      const overfull = ratio < -1;
      if (overfull || forced) {
        // drop `a` from the active list (below), unless it is still useful
      } else keep.push(a);
      if (overfull) {
        if (allowOverfull && (!bestOverfull || ratio > bestOverfull.ratio)) bestOverfull = { node: a, ratio };
        continue;
      }
      if (ratio > tolerance) continue;
      const hyphens = flagged ? a.hyphens + 1 : 0;
      if (hyphens > p.maxConsecutiveHyphens) continue;

      const badness = 100 * Math.abs(ratio) ** 3;
      let d = (p.linePenalty + badness) ** 2;
      const pv = pen ? pen.penalty : 0;
      if (pv > 0) d += pv * pv;
      else if (pv > -Infinity && pv < 0) d -= pv * pv;
      if (flagged && a.hyphens > 0) d += p.doubleHyphenDemerits;
      if (forced && a.hyphens > 0) d += p.finalHyphenDemerits;
      const fit = fitnessClass(ratio);
      if (Math.abs(fit - a.fitness) > 1) d += p.adjacentDemerits;
      candidates.push({
        position: i,
        line: a.line + 1,
        fitness: fit,
        hyphens,
        totalWidth: 0,
        totalStretch: 0,
        totalShrink: 0,
        totalGlyphs: 0,
        demerits: a.demerits + d,
        ratio,
        previous: a,
      });
    }
    if (candidates.length === 0 && bestOverfull && (keep.length === 0 || forced)) {
      // Nothing fits even on an empty line (a word wider than the measure): take the least overfull line.
      const a = bestOverfull.node;
      candidates.push({ ...a, position: i, line: a.line + 1, fitness: 1, hyphens: 0, demerits: a.demerits + 1e12, ratio: bestOverfull.ratio, previous: a });
    }
    active = keep;
    // One node per (fitness, hyphen-run) state: the one with least demerits (TeX keeps one per fitness class).
    const best = new Map<number, Node>();
    for (const c of candidates) {
      const key = c.fitness * 8 + c.hyphens;
      const b = best.get(key);
      if (!b || c.demerits < b.demerits) best.set(key, c);
    }
    active.push(...best.values());
    if (active.length === 0) return null;
  }

  let end: Node | null = null;
  for (const a of active) if (a.position === n - 1 && (!end || a.demerits < end.demerits)) end = a;
  if (!end) return null;
  const out: Break[] = [];
  for (let node: Node | null = end; node && node.position >= 0; node = node.previous) {
    const it = items[node.position]!;
    out.push({ position: node.position, ratio: node.ratio, flagged: it.type === 'penalty' && it.flagged });
  }
  return out.reverse();
}
