import { readFileSync } from 'node:fs';

export interface Minister {
  name: string;
  title: string;
  from: string;
  until: string | null;
}

/** The responsible ministry for a period, with the name forms the templates need. */
export interface Ministry {
  id: string;
  /** "Hessisches Ministerium für Soziales und Integration" */
  name: string;
  /** "das Hessische Ministerium für …" */
  nominative: string;
  dative: string;
  genitive: string;
  /** Abbreviation used in the agreement texts ("HMSI", kept after the 2024 renaming). */
  abbreviation: string;
  /** The name broken into the lines printed under the signatory. */
  signatureLines: string[];
  seat: string;
  /** ISO dates, inclusive. */
  validFrom: string;
  validUntil: string | null;
  ministers: Minister[];
}

const ministries: Ministry[] = JSON.parse(readFileSync(new URL('./data/ministries.json', import.meta.url), 'utf8'));

export function listMinistries(): readonly Ministry[] {
  return ministries;
}

/** The ministry in office on an ISO date (YYYY-MM-DD), if any. */
export function ministryOn(date: string): Ministry | undefined {
  return ministries.find((m) => m.validFrom <= date && (m.validUntil === null || date <= m.validUntil));
}

/** The minister in office on an ISO date within the given ministry, if any. */
export function ministerOn(ministry: Ministry, date: string): Minister | undefined {
  return ministry.ministers.find((m) => m.from <= date && (m.until === null || date <= m.until));
}
