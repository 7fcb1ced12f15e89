import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface PendingFile {
  path: string;
  bytes: Uint8Array;
}

/** Creates `path` (it must not exist), writes all bytes and fsyncs them before returning. */
export function writeDurably(path: string, bytes: Uint8Array | string): void {
  if (typeof bytes === 'string') bytes = Buffer.from(bytes, 'utf8');
  const fd = openSync(path, 'wx', 0o644);
  try {
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a group of files all-or-nothing as far as a file system allows: every file is first written
 * and fsynced under a hidden temporary name beside its target, and only when all are complete are they
 * renamed into place. A failure (disk full, bad path …) removes the temporaries and leaves no target touched.
 */
export function writeFilesAtomically(files: PendingFile[]): void {
  const tag = randomBytes(6).toString('hex');
  const temps: string[] = [];
  try {
    for (const f of files) {
      const temp = join(dirname(f.path), `.${basename(f.path)}.${tag}.tmp`);
      writeDurably(temp, f.bytes);
      temps.push(temp);
    }
  } catch (err) {
    for (const t of temps) rmSync(t, { force: true });
    throw err;
  }
  files.forEach((f, i) => renameSync(temps[i], f.path));
  for (const d of new Set(files.map((f) => dirname(f.path)))) fsyncDirectory(d);
}

/** fsyncs a directory so that renames and new entries in it survive a crash. */
export function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    /* not supported on every platform; the file data itself is already durable */
  }
}
