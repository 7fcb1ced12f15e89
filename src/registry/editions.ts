import { readFileSync } from 'node:fs';
import { templatesDir } from '../paths.ts';
import type { AgreementType } from '../model/agreement.ts';

/** One canonical template edition (the ministry revises the wording from time to time). */
export interface Edition {
  type: AgreementType;
  /** Edition name = the year the wording was introduced, e.g. "2023". */
  edition: string;
  /** Template path relative to templates/. */
  template: string;
  title: string;
  /** Date style of the agreement: 'long' = "30. Mai 2023", 'numeric' = "24.01.2023". */
  dateStyle: 'long' | 'numeric';
  /** AQB prints the organisation under each signatory; SGB II prints it as a column header. */
  signatureLayout: 'organisation-below' | 'organisation-header';
  /** AQB only: the § 6 variant used when the input does not name one. */
  defaultSteering?: 'dialog' | 'exchange';
  source: string;
}

const editions: Edition[] = JSON.parse(readFileSync(`${templatesDir}/editions.json`, 'utf8'));

export function listEditions(type?: AgreementType): Edition[] {
  return editions
    .filter((e) => type === undefined || e.type === type)
    .sort((a, b) => a.type.localeCompare(b.type) || a.edition.localeCompare(b.edition));
}

export interface EditionChoice {
  edition?: Edition;
  /** Set when no edition fits exactly and a fallback was taken, or when the named one does not exist. */
  warning?: string;
  error?: string;
}

/** The named edition, or else the latest edition not after `year` (the earliest one for years before it). */
export function chooseEdition(type: AgreementType, year: number, named?: string): EditionChoice {
  const candidates = listEditions(type);
  if (named !== undefined) {
    const found = candidates.find((e) => e.edition === named);
    if (!found) return { error: `unknown edition "${named}" for type "${type}" (available: ${candidates.map((e) => e.edition).join(', ')})` };
    if (Number(found.edition) > year) return { edition: found, warning: `edition ${named} is newer than the agreement year ${year}` };
    return { edition: found };
  }
  const fitting = candidates.filter((e) => Number(e.edition) <= year);
  if (fitting.length > 0) return { edition: fitting[fitting.length - 1] };
  return {
    edition: candidates[0],
    warning: `no ${type} edition exists for ${year}; using the earliest edition (${candidates[0].edition}) — check the wording`,
  };
}
