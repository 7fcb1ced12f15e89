/**
 * The startup sweep: after a crash, the data directory may hold what a transaction wrote but never
 * committed — temporary files, or complete files whose rows were rolled back. Runs under the write
 * lock, so it never sees the files of a transaction still in progress in another process.
 * Temporaries are deleted; unregistered complete files are moved to lost+found/ (reported, never
 * silently destroyed); registered files that are missing are reported. A signed PDF longer on disk
 * than registered, which begins with exactly the registered bytes, is an archive renewal whose
 * transaction did not commit (src/archive/renew.ts renames inside it): it is cut back to them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { absolutePath, MANAGED_DIRS, sha256Hex } from './files.ts';
import { writeFilesAtomically } from './atomic.ts';
import type { Store } from './store.ts';

export interface SweepReport {
  removedTemporaries: string[];
  quarantined: { path: string; movedTo: string }[];
  missing: string[];
  /** Signed PDFs cut back to their registered bytes (an uncommitted archive renewal); absent when none. */
  restored?: string[];
}

const TEMP_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

export function listManagedFiles(dataDir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = absolutePath(dataDir, rel);
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  for (const d of MANAGED_DIRS) if (existsSync(join(dataDir, d))) walk(d);
  return out.sort();
}

export function sweep(store: Store): SweepReport {
  const report: SweepReport = { removedTemporaries: [], quarantined: [], missing: [] };
  const run = store.db.transaction(() => {
    const registered = new Map(
      (store.db.prepare('SELECT path, size, sha256, kind FROM files').all() as { path: string; size: number; sha256: string; kind: string }[]).map((r) => [r.path, r]),
    );
    const stamp = store.now().replace(/[:.]/g, '-');
    for (const rel of listManagedFiles(store.dataDir)) {
      if (registered.has(rel)) continue;
      const abs = absolutePath(store.dataDir, rel);
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      if (TEMP_NAME.test(name)) {
        rmSync(abs, { force: true });
        report.removedTemporaries.push(rel);
      } else {
        const movedTo = `lost+found/${stamp}/${rel}`;
        mkdirSync(dirname(absolutePath(store.dataDir, movedTo)), { recursive: true });
        renameSync(abs, absolutePath(store.dataDir, movedTo));
        report.quarantined.push({ path: rel, movedTo });
      }
    }
    for (const [rel, row] of registered) {
      const abs = absolutePath(store.dataDir, rel);
      if (!existsSync(abs) || !statSync(abs).isFile()) report.missing.push(rel);
      else if (row.kind === 'signed-pdf' && statSync(abs).size > row.size) {
        const bytes = readFileSync(abs);
        const prefix = bytes.subarray(0, row.size);
        if (sha256Hex(prefix) === row.sha256) {
          writeFilesAtomically([{ path: abs, bytes: prefix }]);
          (report.restored ??= []).push(rel);
        }
      }
    }
  });
  run.immediate();
  return report;
}

export function describeSweep(r: SweepReport): string[] {
  const lines: string[] = [];
  if (r.removedTemporaries.length) lines.push(`recovery: removed ${r.removedTemporaries.length} temporary file(s) of interrupted writes`);
  for (const q of r.quarantined) lines.push(`recovery: ${q.path} belonged to no committed change; moved to ${q.movedTo}`);
  for (const p of r.restored ?? []) lines.push(`recovery: ${p} was being renewed when a process stopped; restored to its registered state (zv archive renew renews it again)`);
  for (const m of r.missing) lines.push(`recovery: registered file ${m} is missing — restore it from a backup (zv archive check lists what it affects)`);
  return lines;
}
