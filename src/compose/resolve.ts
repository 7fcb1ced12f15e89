import { findPartner, vonForm, type Partner } from '../registry/partners.ts';
import { ministerOn, ministryOn, type Ministry } from '../registry/ministries.ts';
import { categoryRank, categoryTitle, type MeasureCategoryId } from '../registry/categories.ts';
import { chooseEdition, type Edition } from '../registry/editions.ts';
import { ValidationError, type AgreementInput, type Problem, type Signatory } from '../model/agreement.ts';

/** Everything the template needs, with registry look-ups and defaults applied. */
export interface ResolvedAgreement {
  input: AgreementInput;
  type: AgreementInput['type'];
  year: number;
  edition: Edition;
  /** ISO date the agreement is drawn up. */
  date: string;
  partner: Partner;
  ministry: Ministry;
  amount?: number;
  measures: { category: MeasureCategoryId; title: string; projects: string[] }[];
  steering?: 'dialog' | 'exchange';
  signatories: { ministry: Signatory[]; partner: Signatory[] };
  /** `<type>-<year>-<partner id>`, the base name of the output files. */
  fileBase: string;
  /** Non-fatal remarks (e.g. an edition fallback), printed by the CLI. */
  warnings: string[];
}

export interface ResolveOptions {
  /** "Today" as an ISO date; injectable so tests and batch runs are reproducible. */
  today?: string;
}

/** The date the agreement is drawn up: as given, else today when today lies in `year`, else 1 July of `year`. */
export function defaultDate(year: number, today: string): string {
  return today.startsWith(`${year}-`) ? today : `${year}-07-01`;
}

export function resolveAgreement(input: AgreementInput, options: ResolveOptions = {}): ResolvedAgreement {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const today = options.today ?? new Date().toISOString().slice(0, 10);
  const date = input.date ?? defaultDate(input.year, today);

  const choice = chooseEdition(input.type, input.year, input.edition);
  if (choice.error) problems.push({ path: 'edition', message: choice.error });
  if (choice.warning) warnings.push(choice.warning);

  const partner: Partner =
    typeof input.partner === 'string'
      ? findPartner(input.partner)!
      : { kind: 'Gebietskörperschaft', ...input.partner, von: input.partner.von ?? vonForm(input.partner.dative) };

  const officeMinistry = ministryOn(date);
  if (!officeMinistry) problems.push({ path: 'date', message: `no ministry is registered for ${date}` });
  const ministry: Ministry | undefined = officeMinistry && { ...officeMinistry, ...input.ministry };

  let ministrySignatories = input.signatories.ministry;
  if (!ministrySignatories && ministry) {
    const minister = ministerOn(ministry, date);
    if (minister) ministrySignatories = [{ name: minister.name, role: minister.title }];
    else problems.push({ path: 'signatories.ministry', message: `is required: no minister is registered for ${date}` });
  }

  if (problems.length > 0) throw new ValidationError(problems);

  const measures = (input.measures ?? [])
    .map((m) => ({ category: m.category as MeasureCategoryId, title: categoryTitle(m.category as MeasureCategoryId), projects: m.projects }))
    .sort((a, b) => categoryRank(a.category) - categoryRank(b.category));

  for (const m of measures) {
    const seen = new Set<string>();
    for (const p of m.projects) {
      if (seen.has(p)) warnings.push(`project "${p}" is listed twice under "${m.category}"`);
      seen.add(p);
    }
  }

  return {
    input,
    type: input.type,
    year: input.year,
    edition: choice.edition!,
    date,
    partner,
    ministry: ministry!,
    amount: input.amount,
    measures,
    steering: input.type === 'aqb' ? (input.steering ?? choice.edition!.defaultSteering ?? 'dialog') : undefined,
    signatories: { ministry: ministrySignatories!, partner: input.signatories.partner },
    fileBase: `${input.type}-${input.year}-${partner.id}`,
    warnings,
  };
}
