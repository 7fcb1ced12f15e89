import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { composeFromData, type ComposedAgreement } from './compose/index.ts';
import type { DocumentTree } from './document/tree.ts';
import { ValidationError, type Problem } from './model/agreement.ts';
import { readJsonFile } from './input.ts';
import { writeFilesAtomically } from './store/atomic.ts';

export const OUTPUT_FORMATS = ['docx', 'pdf'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Renders one document tree to the requested formats — both from the same tree, so their wording is identical. */
export async function renderFormats(tree: DocumentTree, formats: readonly OutputFormat[]): Promise<Record<OutputFormat, Uint8Array | undefined>> {
  // Loaded on first use: listing partners or validating input should not pay for fonts and renderers.
  const [docx, pdf] = await Promise.all([
    formats.includes('docx') ? import('./render/docx.ts').then((m) => m.renderDocx(tree)) : undefined,
    formats.includes('pdf') ? import('./render/pdf/index.ts').then((m) => m.renderPdf(tree)) : undefined,
  ]);
  return { docx, pdf };
}

export interface GeneratedFile {
  format: OutputFormat;
  path: string;
  bytes: number;
}

export interface GenerateResult {
  source: string;
  composed: ComposedAgreement;
  files: GeneratedFile[];
}

/** Problems of one input file, for reporting all files' problems together. */
export class InputFilesError extends Error {
  constructor(public readonly failures: { source: string; problems: Problem[] }[]) {
    super(failures.map((f) => new ValidationError(f.problems, f.source).message).join('\n'));
    this.name = 'InputFilesError';
  }
}

/**
 * Generates DOCX and/or PDF for each source. All inputs are validated and composed first; if any is
 * invalid nothing is written. Files are then written atomically (temporary name, fsync, rename).
 */
export async function generateAgreements(
  inputPaths: string[],
  outDir: string,
  formats: readonly OutputFormat[],
  options: { today?: string; dryRun?: boolean } = {},
): Promise<GenerateResult[]> {
  const composed: { source: string; result: ComposedAgreement }[] = [];
  const failures: { source: string; problems: Problem[] }[] = [];
  const seenBases = new Map<string, string>();
  for (const path of inputPaths) {
    try {
      const source = readJsonFile(path);
      const result = composeFromData(source.data, { source: source.path, sourceBytes: source.bytes, today: options.today });
      const clash = seenBases.get(result.resolved.fileBase);
      if (clash) {
        failures.push({ source: source.path, problems: [{ path: '(file)', message: `describes the same agreement (${result.resolved.fileBase}) as ${clash}` }] });
      }
      seenBases.set(result.resolved.fileBase, source.path);
      composed.push({ source: path, result });
    } catch (err) {
      if (err instanceof ValidationError) failures.push({ source: path, problems: err.problems });
      else throw err;
    }
  }
  if (failures.length > 0) throw new InputFilesError(failures);

  const results: GenerateResult[] = [];
  for (const { source, result } of composed) {
    const rendered = await renderFormats(result.tree, formats);
    const pending = formats.map((format) => ({ format, path: join(outDir, `${result.resolved.fileBase}.${format}`), bytes: rendered[format]! }));
    if (!options.dryRun) {
      mkdirSync(outDir, { recursive: true });
      writeFilesAtomically(pending);
    }
    results.push({ source, composed: result, files: pending.map((p) => ({ format: p.format, path: p.path, bytes: p.bytes.length })) });
  }
  return results;
}
