import { readFileSync } from 'node:fs';
import { closest } from 'fastest-levenshtein';

/** Grammatical gender of the partner's name (decides articles: "der Landkreis" / "die Stadt"). */
export type Gender = 'm' | 'f' | 'n';

/**
 * A Gebietskörperschaft (Landkreis or kreisfreie Stadt) with every case form the templates need.
 * Grammar lives here, not in template conditionals.
 */
export interface Partner {
  id: string;
  /** Name without article, e.g. "Landkreis Kassel", "Stadt Kassel". */
  name: string;
  kind: string;
  gender: Gender;
  /** "der Werra-Meißner-Kreis" / "die Stadt Kassel" */
  nominative: string;
  /** "den Werra-Meißner-Kreis" / "die Stadt Kassel" */
  accusative: string;
  /** "dem Werra-Meißner-Kreis" / "der Stadt Kassel" */
  dative: string;
  /** "des Werra-Meißner-Kreises" / "der Stadt Kassel" */
  genitive: string;
  /** Contracted "von"-form: "vom Werra-Meißner-Kreis" / "von der Stadt Kassel" */
  von: string;
  /** "im Werra-Meißner-Kreis" / "in der Stadt Kassel" */
  locative: string;
  /** Seat of the administration, the default place of signing. */
  seat: string;
  regierungsbezirk?: string;
  /** Title of the partner's head by the holder's gender: Landrat/Landrätin, Oberbürgermeister/-in. */
  headTitle?: { m: string; f: string };
  sgb2Organisation?: string;
  sgb2OrganisationCertain?: boolean;
  note?: string;
}

const partners: Partner[] = JSON.parse(readFileSync(new URL('./data/partners.json', import.meta.url), 'utf8'));
const byId = new Map(partners.map((p) => [p.id, p]));

/** All 26 partners in registry order (Regierungsbezirke Darmstadt, Gießen, Kassel; Landkreise before cities). */
export function listPartners(): readonly Partner[] {
  return partners;
}

export function findPartner(id: string): Partner | undefined {
  return byId.get(id);
}

/** The closest known partner id, for "did you mean" hints. */
export function suggestPartnerId(id: string): string {
  return closest(id.toLowerCase(), [...byId.keys()]);
}

/** Contracted "von"-form derived from the dative ("dem X" → "vom X", "der X" → "von der X"). */
export function vonForm(dative: string): string {
  return dative.startsWith('dem ') ? `vom ${dative.slice(4)}` : `von ${dative}`;
}
