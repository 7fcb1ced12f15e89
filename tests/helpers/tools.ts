import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs an external validator (pdftotext, qpdf, soffice …) and returns its stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], options: { allowExit?: number[]; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    if (e.status !== undefined && options.allowExit?.includes(e.status)) return e.stdout ?? '';
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${e.status}): ${e.stderr ?? err}`);
  }
}

/** A fresh temporary directory, removed by the returned cleanup function. */
export function tempDir(prefix = 'zv-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Counts dark pixels (< 128) in a binary PGM image as written by `pdftoppm -gray`. */
export function darkPixels(pgm: Buffer): number {
  // Header: "P5" width height maxval, separated by whitespace, then one byte per pixel.
  const header = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(pgm.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('not a binary PGM image');
  const pixels = pgm.subarray(header[0].length);
  let dark = 0;
  for (const v of pixels) if (v < 128) dark++;
  return dark;
}
