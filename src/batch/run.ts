import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { fsyncDirectory, writeDurably } from '../store/atomic.ts';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { renderFormats, type OutputFormat } from '../generate.ts';
import { composeResolved } from '../compose/index.ts';
import { toolVersion } from '../paths.ts';
import { BatchError, loadBatch, type LoadedBatch } from './load.ts';
import { sha256Hex } from '../digest.ts';


export interface ManifestFile {
  name: string;
  format: OutputFormat;
  bytes: number;
  sha256: string;
}

export interface ManifestAgreement {
  id: string;
  type: string;
  year: number;
  edition: string;
  date: string;
  partner: { id: string; name: string };
  amount: number | null;
  signatories: { party: 'ministry' | 'partner'; name: string; role: string }[];
  files: ManifestFile[];
}

export interface Manifest {
  kind: 'zielwerk-batch-manifest';
  toolVersion: string;
  /** Time of the run (or SOURCE_DATE_EPOCH, for reproducible manifests). */
  createdAt: string;
  source: { file: string; format: string; sha256: string };
  type: string;
  year: number;
  editions: string[];
  note: string | null;
  totals: { agreements: number; amount: number | null; budget: number | null; files: number; bytes: number };
  warnings: string[];
  agreements: ManifestAgreement[];
}

export interface BatchProgress {
  start(total: number): void;
  tick(done: number, label: string): void;
  stop(): void;
}

export interface BatchOptions {
  out: string;
  formats: readonly OutputFormat[];
  force?: boolean;
  compare?: string;
  today?: string;
  progress?: BatchProgress;
}

export interface BatchResult {
  manifest: Manifest;
  outDir: string;
  seconds: number;
}

/**
 * A full garbage collection now and then keeps a long batch's resident memory flat: the live data per
 * agreement is small, but V8 otherwise lets the old generation grow far beyond it before collecting.
 */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  return typeof gc === 'function' ? gc : () => {};
})();
const GC_EVERY = 50;

const sha256 = (bytes: Uint8Array) => sha256Hex(bytes);

function createdAt(): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  return (epoch && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date()).toISOString();
}

/** Staging directories of this output live beside it under a hidden name, so the final rename is atomic. */
const stagingPrefix = (outDir: string) => `.${basename(outDir)}.partial-`;

/**
 * Runs a yearly batch: checks everything first (nothing is written when anything is wrong), renders
 * every agreement into a hidden staging directory one at a time (memory stays flat), writes the
 * manifest, and only then renames the staging directory into place. An interruption at any point
 * leaves either no output directory or the complete one; leftovers of a killed run are removed by
 * the next run.
 */
export async function runBatch(inputPath: string, options: BatchOptions): Promise<BatchResult> {
  const started = performance.now();
  const outDir = resolve(options.out);
  if (existsSync(outDir) && !options.force) {
    throw new BatchError(inputPath, [{ path: '--out', message: `${options.out} already exists; use --force to replace it` }]);
  }
  const loaded = await loadBatch(inputPath, { today: options.today, compare: options.compare });

  const parent = dirname(outDir);
  mkdirSync(parent, { recursive: true });
  for (const stale of readdirSync(parent).filter((n) => n.startsWith(stagingPrefix(outDir)))) rmSync(join(parent, stale), { recursive: true, force: true });
  const staging = join(parent, `${stagingPrefix(outDir)}${randomBytes(4).toString('hex')}`);
  mkdirSync(staging);

  // Ctrl-C / kill: remove the staging directory, then let the signal take its normal course.
  const cleanupOnSignal = (signal: NodeJS.Signals) => {
    rmSync(staging, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', cleanupOnSignal);
  process.once('SIGTERM', cleanupOnSignal);
  try {
    const manifest = await renderAll(loaded, staging, options);
    writeDurably(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    fsyncDirectory(staging);
    // Swap into place: the old output (with --force) is moved aside first, then removed.
    let old: string | undefined;
    if (existsSync(outDir)) {
      old = `${staging}.old`;
      renameSync(outDir, old);
    }
    renameSync(staging, outDir);
    fsyncDirectory(parent);
    if (old) rmSync(old, { recursive: true, force: true });
    return { manifest, outDir, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  } finally {
    process.removeListener('SIGINT', cleanupOnSignal);
    process.removeListener('SIGTERM', cleanupOnSignal);
    options.progress?.stop();
  }
}

async function renderAll(loaded: LoadedBatch, dir: string, options: BatchOptions): Promise<Manifest> {
  const { batch, source } = loaded;
  const entries: ManifestAgreement[] = [];
  options.progress?.start(loaded.agreements.length);
  let totalBytes = 0;
  for (const [i, agreement] of loaded.agreements.entries()) {
    // One agreement at a time: composed, rendered, written; only its hashes stay in memory.
    const composed = composeResolved(agreement.resolved);
    const r = composed.resolved;
    const rendered = await renderFormats(composed.tree, options.formats);
    const files: ManifestFile[] = [];
    for (const format of options.formats) {
      const bytes = rendered[format]!;
      const name = `${r.fileBase}.${format}`;
      writeDurably(join(dir, name), bytes);
      files.push({ name, format, bytes: bytes.length, sha256: sha256(bytes) });
      totalBytes += bytes.length;
    }
    entries.push({
      id: r.fileBase,
      type: r.type,
      year: r.year,
      edition: r.edition.edition,
      date: r.date,
      partner: { id: r.partner.id, name: r.partner.name },
      amount: r.amount ?? null,
      signatories: [
        ...r.signatories.ministry.map((s) => ({ party: 'ministry' as const, ...s })),
        ...r.signatories.partner.map((s) => ({ party: 'partner' as const, ...s })),
      ],
      files,
    });
    options.progress?.tick(i + 1, r.partner.name);
    if ((i + 1) % GC_EVERY === 0) collectGarbage();
  }
  const amounts = entries.map((e) => e.amount);
  const amountSum = amounts.every((a) => a !== null) ? amounts.reduce((s, a) => s + Math.round(a! * 100), 0) / 100 : null;
  return {
    kind: 'zielwerk-batch-manifest',
    toolVersion,
    createdAt: createdAt(),
    source: { file: basename(source.path), format: source.format, sha256: sha256(source.bytes) },
    type: batch.type,
    year: batch.year,
    editions: [...new Set(entries.map((e) => e.edition))].sort(),
    note: batch.note ?? null,
    totals: { agreements: entries.length, amount: amountSum, budget: batch.total ?? null, files: entries.length * options.formats.length, bytes: totalBytes },
    warnings: loaded.warnings,
    agreements: entries,
  };
}
