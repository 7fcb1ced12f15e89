import { z } from 'zod';
import { findPartner, suggestPartnerId } from '../registry/partners.ts';
import { isMeasureCategory, suggestCategory } from '../registry/categories.ts';
import { drawableText } from './charset.ts';

/**
 * The input contract for one agreement (see README "Input format").
 * Every field is validated here so that composition and rendering can trust their input.
 */

export const MIN_YEAR = 2014;
export const MAX_YEAR = 2100;

// Control characters (incl. newlines and tabs) would break the one-line structure of names and list items.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * A single line of printable text: trimmed, non-empty, no control characters, and only characters
 * the PDF's fonts can draw. Every free-text field of the agreement is a line(), so all input paths get all checks.
 */
export function line(max: number) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be text, got ${describe(iss.input)}`) })
    .refine((s) => s.trim() === s, { message: 'must not start or end with whitespace' })
    .refine((s) => s.length > 0, { message: 'must not be empty' })
    .refine((s) => s.length <= max, { message: `must be at most ${max} characters long` })
    .refine((s) => !CONTROL_CHARS.test(s), { message: 'must not contain line breaks, tabs or other control characters' })
    .superRefine(drawableText);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

const IsoDate = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be a date as text (YYYY-MM-DD), got ${describe(iss.input)}`) })
  .refine(isValidIsoDate, { message: 'must be a real calendar date in the form YYYY-MM-DD' });

export function isValidIsoDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** Euro amount: positive, at most two decimals, below one billion. */
export const Amount = z
  .number({ error: (iss) => (iss.input === undefined ? 'is required' : `must be a number of euros (e.g. 444000 or 444000.5), got ${describe(iss.input)}`) })
  .refine((n) => Number.isFinite(n), { message: 'must be a finite number' })
  .refine((n) => n > 0, { message: 'must be greater than 0' })
  .refine((n) => n < 1e9, { message: 'must be less than 1.000.000.000 euros' })
  .refine((n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-6, { message: 'must have at most 2 decimal places (whole cents)' });

export const Signatory = z.strictObject(
  {
    name: line(120),
    role: line(160),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? 'must be an object with "name" and "role"' : undefined) },
);
export type Signatory = z.infer<typeof Signatory>;

const SignatoryList = z
  .array(Signatory, { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a list of signatories') })
  .min(1, { message: 'must name at least one signatory' })
  .max(6, { message: 'must name at most 6 signatories' });

export const PARTNER_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** A partner that is not in the registry, given with all of its case forms. */
export const PartnerObject = z.strictObject({
  id: z.string().regex(PARTNER_ID, { message: 'must be lower-case letters, digits and single hyphens (e.g. "stadt-musterstadt")' }),
  name: line(120),
  kind: line(60).optional(),
  gender: z.enum(['m', 'f', 'n'], { error: 'must be "m", "f" or "n" (grammatical gender of the name)' }),
  nominative: line(140),
  accusative: line(140),
  dative: line(140),
  genitive: line(140),
  /** Optional: contracted "von"-form; derived from the dative when missing. */
  von: line(140).optional(),
  locative: line(140),
  seat: line(80),
  headTitle: z.strictObject({ m: line(80), f: line(80) }).optional(),
});
export type PartnerObject = z.infer<typeof PartnerObject>;

const PartnerRef = z.union([z.string(), PartnerObject], {
  error: (iss) =>
    iss.input === undefined ? 'is required' : 'must be a partner id (see "zv partners") or a full partner object with its case forms',
}).superRefine((value, ctx) => {
  if (typeof value !== 'string') return;
  if (!findPartner(value)) {
    ctx.addIssue({ code: 'custom', message: `unknown partner "${value}" (did you mean "${suggestPartnerId(value)}"?)` });
  }
});

export const Measure = z.strictObject({
  category: z.string({ error: (iss) => (iss.input === undefined ? 'is required' : `must be text, got ${describe(iss.input)}`) }).superRefine((value, ctx) => {
    if (!isMeasureCategory(value)) {
      ctx.addIssue({ code: 'custom', message: `unknown category "${value}" (did you mean "${suggestCategory(value)}"?)` });
    }
  }),
  projects: z
    .array(line(500), { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a list of project names') })
    .min(1, { message: 'must list at least one project' })
    .max(500, { message: 'must list at most 500 projects' }),
});
export type Measure = z.infer<typeof Measure>;

/** Optional overrides of the ministry resolved from the date. */
export const MinistryOverride = z.strictObject({
  abbreviation: line(20).optional(),
  name: line(200).optional(),
  nominative: line(220).optional(),
  dative: line(220).optional(),
  genitive: line(220).optional(),
  signatureLines: z.array(line(120)).min(1).max(5).optional(),
  seat: line(80).optional(),
});

export const AgreementType = z.enum(['aqb', 'sgb2'], {
  error: (iss) => (iss.input === undefined ? 'is required ("aqb" or "sgb2")' : `unknown type ${describe(iss.input)} (expected "aqb" or "sgb2")`),
});
export type AgreementType = z.infer<typeof AgreementType>;

export const AgreementInput = z
  .strictObject({
    type: AgreementType,
    year: z
      .number({ error: (iss) => (iss.input === undefined ? 'is required' : `must be a whole number, got ${describe(iss.input)}`) })
      .int({ message: 'must be a whole number' })
      .min(MIN_YEAR, { message: `must be between ${MIN_YEAR} and ${MAX_YEAR}` })
      .max(MAX_YEAR, { message: `must be between ${MIN_YEAR} and ${MAX_YEAR}` }),
    edition: z.string().regex(/^\d{4}$/, { message: 'must be an edition year such as "2023"' }).optional(),
    partner: PartnerRef,
    amount: Amount.optional(),
    measures: z.array(Measure, { error: 'must be a list of measures' }).optional(),
    steering: z.enum(['dialog', 'exchange'], { error: (iss) => `unknown steering variant ${describe(iss.input)} (expected "dialog" or "exchange")` }).optional(),
    date: IsoDate.optional(),
    /** Who signs first; stored in the PDF's signing plan and enforced when signing. */
    signingOrder: z
      .enum(['ministry-first', 'partner-first'], { error: (iss) => `unknown signing order ${describe(iss.input)} (expected "ministry-first" or "partner-first")` })
      .optional(),
    ministry: MinistryOverride.optional(),
    signatories: z.strictObject(
      {
        ministry: SignatoryList.optional(),
        partner: SignatoryList,
      },
      { error: (iss) => (iss.input === undefined ? 'is required (at least the partner\'s signatories)' : 'must be an object with "ministry" and "partner" lists') },
    ),
  })
  .superRefine((input, ctx) => {
    if (input.type === 'aqb') {
      if (input.amount === undefined) ctx.addIssue({ code: 'custom', path: ['amount'], message: 'is required for an AQB agreement' });
      if (input.measures === undefined) ctx.addIssue({ code: 'custom', path: ['measures'], message: 'is required for an AQB agreement' });
      else if (input.measures.length === 0) ctx.addIssue({ code: 'custom', path: ['measures'], message: 'must list at least one measure category' });
      const seen = new Map<string, number>();
      input.measures?.forEach((m, i) => {
        const first = seen.get(m.category);
        if (first !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['measures', i, 'category'], message: `duplicate category "${m.category}" (already given at measures[${first}])` });
        } else seen.set(m.category, i);
      });
    } else {
      for (const field of ['amount', 'measures', 'steering'] as const) {
        if (input[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `is only allowed for type "aqb"` });
      }
    }
    if (input.date !== undefined) {
      const dateYear = Number(input.date.slice(0, 4));
      if (Math.abs(dateYear - input.year) > 1) {
        ctx.addIssue({ code: 'custom', path: ['date'], message: `must lie in ${input.year} or the adjacent year, got ${input.date}` });
      }
    }
  });
export type AgreementInput = z.infer<typeof AgreementInput>;

/** One validation problem, with a JSON path like `measures[1].category`. */
export interface Problem {
  path: string;
  message: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

/** Converts zod issues into problems, expanding unknown keys so each names its own path. */
export function problemsFrom(error: z.ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push({ path: formatPath([...issue.path, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_union') {
      // Report the branch the input was meant for (the one not failing on its root type), e.g. a partner object's own fields.
      const branch = issue.errors.find((errs) => errs.length > 0 && !errs.some((e) => e.code === 'invalid_type' && e.path.length === 0));
      if (branch) problems.push(...problemsFrom(new z.ZodError(branch.map((e) => ({ ...e, path: [...issue.path, ...e.path] })))));
      else problems.push({ path: formatPath(issue.path), message: issue.message });
    } else if (issue.code === 'invalid_type' && issue.path.length === 0) {
      problems.push({ path: '(root)', message: 'must be a JSON object describing one agreement' });
    } else {
      problems.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return problems;
}

export class ValidationError extends Error {
  constructor(public readonly problems: Problem[], public readonly source?: string) {
    super(`${source ? source + ': ' : ''}invalid input:\n` + problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'));
    this.name = 'ValidationError';
  }
}

/** Validates unknown JSON data as an agreement input, or throws a ValidationError listing every problem. */
export function parseAgreementInput(data: unknown, source?: string): AgreementInput {
  const result = AgreementInput.safeParse(data);
  if (!result.success) throw new ValidationError(problemsFrom(result.error), source);
  return result.data;
}
