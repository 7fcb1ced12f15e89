import { z } from 'zod';
import {
  AgreementInput,
  AgreementType,
  Amount,
  MAX_YEAR,
  MIN_YEAR,
  Measure,
  MinistryOverride,
  PartnerObject,
  Signatory,
  problemsFrom,
  type Problem,
} from './agreement.ts';

/**
 * The yearly batch: shared defaults at the top, one entry per partner in `agreements`.
 * Each entry is merged with the defaults into a single-agreement input (AgreementInput) and validated
 * as such, so a batch can express exactly what single agreements can.
 */

const SignatoryList = z.array(Signatory).min(1, { message: 'must name at least one signatory' }).max(6, { message: 'must name at most 6 signatories' });

/** Per-partner fields of a batch entry; type and year come from the batch. */
export const BatchEntry = z.strictObject({
  partner: z.union([z.string(), PartnerObject], { error: 'must be a partner id (see "zv partners") or a full partner object' }),
  amount: z.unknown().optional(),
  measures: z.unknown().optional(),
  edition: z.unknown().optional(),
  steering: z.unknown().optional(),
  date: z.unknown().optional(),
  ministry: z.unknown().optional(),
  signatories: z.unknown().optional(),
});
export type BatchEntry = z.infer<typeof BatchEntry>;

export const BatchInput = z.strictObject({
  type: AgreementType,
  year: z
    .number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a whole number') })
    .int({ message: 'must be a whole number' })
    .min(MIN_YEAR, { message: `must be between ${MIN_YEAR} and ${MAX_YEAR}` })
    .max(MAX_YEAR, { message: `must be between ${MIN_YEAR} and ${MAX_YEAR}` }),
  edition: z.string().optional(),
  steering: z.enum(['dialog', 'exchange'], { error: 'must be "dialog" or "exchange"' }).optional(),
  date: z.string().optional(),
  ministry: MinistryOverride.optional(),
  signatories: z.strictObject({ ministry: SignatoryList }).optional(),
  /** The state's AQB budget for the year; when given, the amounts must add up to it exactly. */
  total: Amount.optional(),
  /** When true, every one of the 26 registered partners must have exactly one agreement. */
  complete: z.boolean({ error: 'must be true or false' }).optional(),
  /** Free text (e.g. "amounts are illustrative"); printed nowhere, kept in the manifest. */
  note: z.string().optional(),
  agreements: z.array(BatchEntry, { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a list of agreements') }).min(1, { message: 'must list at least one agreement' }),
});
export type BatchInput = z.infer<typeof BatchInput>;

export type { Measure };

/** The single-agreement input for entry `i`: batch defaults, overridden by the entry's own fields. */
export function mergeEntry(batch: BatchInput, entry: BatchEntry): Record<string, unknown> {
  const own = (entry.signatories ?? {}) as Record<string, unknown>;
  const merged: Record<string, unknown> = {
    type: batch.type,
    year: batch.year,
    edition: entry.edition ?? batch.edition,
    partner: entry.partner,
    amount: entry.amount,
    measures: entry.measures,
    steering: entry.steering ?? batch.steering,
    date: entry.date ?? batch.date,
    ministry: entry.ministry ?? batch.ministry,
    signatories:
      typeof own === 'object' && own !== null && !Array.isArray(own)
        ? { ...own, ministry: own.ministry ?? batch.signatories?.ministry }
        : own,
  };
  // Drop absent fields so "unknown field" and "is required" messages stay exact.
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  const sig = merged.signatories as Record<string, unknown> | undefined;
  if (sig && typeof sig === 'object' && sig.ministry === undefined) delete sig.ministry;
  return merged;
}

export interface ValidatedBatch {
  batch: BatchInput;
  /** The entries that are valid on their own, with their position in `agreements`. */
  agreements: { index: number; input: AgreementInput }[];
  problems: Problem[];
}

/** Validates the batch shape and every merged entry; problems carry paths like `agreements[3].measures[1].category`. */
export function validateBatchShape(data: unknown): ValidatedBatch {
  const parsed = BatchInput.safeParse(data);
  if (!parsed.success) return { batch: undefined as never, agreements: [], problems: problemsFrom(parsed.error) };
  const batch = parsed.data;
  const problems: Problem[] = [];
  const agreements: ValidatedBatch['agreements'] = [];
  batch.agreements.forEach((entry, i) => {
    const result = AgreementInput.safeParse(mergeEntry(batch, entry));
    if (result.success) agreements.push({ index: i, input: result.data });
    else {
      for (const p of problemsFrom(result.error)) {
        problems.push({ path: inheritedFromHeader(p.path, entry) ? p.path : `agreements[${i}].${p.path}`, message: p.message });
      }
    }
  });
  return { batch, agreements, problems: dedupe(problems) };
}

/** A problem in a value the entry inherited from the batch header is reported once, at the header's path. */
function inheritedFromHeader(path: string, entry: BatchEntry): boolean {
  const top = path.split(/[.[]/)[0];
  if (top === 'type' || top === 'year') return true;
  if (top === 'edition' || top === 'steering' || top === 'date' || top === 'ministry') return entry[top] === undefined;
  if (path.startsWith('signatories.ministry')) {
    const own = entry.signatories as { ministry?: unknown } | undefined;
    return own?.ministry === undefined;
  }
  return false;
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
