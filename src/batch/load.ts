import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { readJsonFile } from '../input.ts';
import { ValidationError, type Problem } from '../model/agreement.ts';
import { validateBatchShape, type BatchInput } from '../model/batch.ts';
import { resolveAgreement, type ResolvedAgreement } from '../compose/resolve.ts';
import type { AgreementInput } from '../model/agreement.ts';
import { formatEuro } from '../compose/format.ts';
import { findPartner, listPartners } from '../registry/partners.ts';

/** Where a batch came from, and how to name a JSON path in the file's own terms. */
export interface BatchSource {
  path: string;
  format: 'json' | 'csv' | 'xlsx';
  bytes: Uint8Array;
  data: unknown;
  /** Problems found while reading the file (header, cells), already located. */
  readProblems: Problem[];
  /** The file could not be read as a batch at all (then `data` is not checked further). */
  fatal: boolean;
  /** JSON path → "Zeile 14, Spalte Betrag" for tables; undefined keeps the JSON path. */
  locate(jsonPath: string): string | undefined;
}

export interface LoadedBatch {
  source: BatchSource;
  batch: BatchInput;
  /**
   * One checked agreement per entry, in file order. Only inputs and resolved contexts are kept:
   * documents are composed and rendered one at a time later, so memory stays flat for large batches.
   */
  agreements: { index: number; input: AgreementInput; resolved: ResolvedAgreement }[];
  warnings: string[];
}

export class BatchError extends Error {
  constructor(public readonly source: string, public readonly problems: Problem[]) {
    super(`${source}: invalid batch — nothing was written\n` + problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'));
    this.name = 'BatchError';
  }
}

export async function readBatchSource(path: string): Promise<BatchSource> {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv' || ext === '.xlsx') {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new BatchError(path, [{ path: '(file)', message: code === 'ENOENT' ? 'file not found' : (err as Error).message }]);
    }
    const { readCsv, readXlsx } = await import('./table.ts');
    const table = ext === '.csv' ? readCsv(bytes, path) : await readXlsx(bytes, path);
    return { path, format: table.format, bytes, data: table.data, readProblems: table.problems, fatal: table.fatal, locate: (p) => table.locate(p) };
  }
  if (ext !== '.json') throw new BatchError(path, [{ path: '(file)', message: `unsupported file type "${ext || '(none)'}" (expected .json, .csv or .xlsx)` }]);
  try {
    const json = readJsonFile(path);
    return { path, format: 'json', bytes: json.bytes, data: json.data, readProblems: [], fatal: false, locate: () => undefined };
  } catch (err) {
    if (err instanceof ValidationError) throw new BatchError(path, err.problems);
    throw err;
  }
}

/** Checks a whole batch before anything is written; throws a BatchError listing every problem. */
export async function loadBatch(path: string, options: { today?: string; compare?: string } = {}): Promise<LoadedBatch> {
  const source = await readBatchSource(path);
  const problems: Problem[] = [...source.readProblems];
  const warnings: string[] = [];
  if (source.fatal) throw new BatchError(source.path, problems);
  const shape = validateBatchShape(source.data);
  problems.push(...shape.problems);

  const agreements: LoadedBatch['agreements'] = [];
  if (shape.batch) {
    const batch = shape.batch;
    // Entries that validated on their own: resolve them (editions and ministries can fail too).
    for (const { index: i, input } of shape.agreements) {
      try {
        const resolved = resolveAgreement(input, { today: options.today });
        agreements.push({ index: i, input, resolved });
        for (const w of resolved.warnings) warnings.push(`agreements[${i}] (${resolved.partner.id}): ${w}`);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        for (const p of err.problems) problems.push({ path: `agreements[${i}].${p.path}`, message: p.message });
      }
    }
    problems.push(...crossChecks(batch));
    if (options.compare) warnings.push(...(await compareWithPrevious(batch, options.compare)));
  }

  if (problems.length > 0) {
    throw new BatchError(
      source.path,
      problems.map((p) => ({ path: source.locate(p.path) ?? p.path, message: p.message })),
    );
  }
  return { source, batch: shape.batch, agreements, warnings };
}

const partnerIdOf = (p: BatchInput['agreements'][number]['partner']) => (typeof p === 'string' ? p : p.id);

/** Checks across entries: duplicates, completeness, the budget total. */
function crossChecks(batch: BatchInput): Problem[] {
  const problems: Problem[] = [];
  const firstIndex = new Map<string, number>();
  batch.agreements.forEach((entry, i) => {
    const id = partnerIdOf(entry.partner);
    const first = firstIndex.get(id);
    if (first !== undefined) problems.push({ path: `agreements[${i}].partner`, message: `duplicate partner "${id}" (already at agreements[${first}])` });
    else firstIndex.set(id, i);
  });
  if (batch.complete) {
    const missing = listPartners().filter((p) => !firstIndex.has(p.id));
    if (missing.length > 0) {
      problems.push({
        path: 'agreements',
        message: `the batch claims to be complete but ${missing.length} of 26 partners are missing: ${missing.map((p) => p.id).join(', ')}`,
      });
    }
  }
  if (batch.total !== undefined) {
    if (batch.type !== 'aqb') problems.push({ path: 'total', message: 'is only allowed for type "aqb"' });
    else {
      const amounts = batch.agreements.map((a) => (typeof a.amount === 'number' ? a.amount : NaN));
      if (amounts.every(Number.isFinite)) {
        const sumCents = amounts.reduce((s, a) => s + Math.round(a * 100), 0);
        const diffCents = sumCents - Math.round(batch.total * 100);
        if (diffCents !== 0) {
          problems.push({
            path: 'total',
            message: `the amounts add up to ${formatEuro(sumCents / 100)}, which is ${formatEuro(Math.abs(diffCents) / 100)} ${diffCents > 0 ? 'more' : 'less'} than the total of ${formatEuro(batch.total)}`,
          });
        }
      }
    }
  }
  return problems;
}

/** Warnings for partners whose amount changed by more than 50 % against a previous year's batch or manifest. */
async function compareWithPrevious(batch: BatchInput, previousPath: string): Promise<string[]> {
  const previous = await previousAmounts(previousPath);
  const warnings: string[] = [];
  for (const entry of batch.agreements) {
    const id = partnerIdOf(entry.partner);
    const before = previous.get(id);
    if (before === undefined || typeof entry.amount !== 'number' || before <= 0) continue;
    const change = (entry.amount - before) / before;
    if (Math.abs(change) > 0.5) {
      const name = findPartner(id)?.name ?? id;
      warnings.push(
        `${name}: amount ${formatEuro(entry.amount)} is ${change > 0 ? '+' : '−'}${Math.round(Math.abs(change) * 100)} % compared with ${formatEuro(before)} in ${previousPath}`,
      );
    }
  }
  return warnings;
}

async function previousAmounts(path: string): Promise<Map<string, number>> {
  const source = await readBatchSource(path);
  const data = source.data as { agreements?: { partner?: unknown; amount?: unknown }[] };
  const amounts = new Map<string, number>();
  for (const a of data?.agreements ?? []) {
    const partner = a.partner as string | { id?: string } | undefined;
    const id = typeof partner === 'string' ? partner : partner?.id;
    if (id && typeof a.amount === 'number') amounts.set(id, a.amount);
  }
  if (amounts.size === 0) throw new BatchError(path, [{ path: '(file)', message: 'holds no amounts to compare with (expected a batch file or a manifest.json)' }]);
  return amounts;
}
