/**
 * Online backup: SQLite's backup API copies a consistent snapshot of the database while other
 * processes keep writing; the files that snapshot registers are immutable once registered (an
 * archive renewal only appends to a signed PDF: the snapshot's state is the file's beginning), so
 * copying them afterwards yields a consistent whole. Keys (encrypted) are included: without the
 * CA certificate the archive's signatures cannot be checked against their trust anchor. The
 * Demo-CA's private key is left out unless asked for: a stolen backup then cannot mint identities,
 * and the restored instance still signs with the certificates already issued.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { DB_FILE } from '../store/db.ts';
import { absolutePath, sha256Hex } from '../store/files.ts';
import { writeFilesAtomically } from '../store/atomic.ts';
import type { SigningService } from '../envelope/service.ts';
import { ArchiveError } from './archive.ts';

export interface BackupResult {
  path: string;
  files: number;
  bytes: number;
  skipped: string[];
  /** The Demo-CA key existed but was not included (no includeCaKey). */
  caKeyLeftOut: boolean;
}

const CA_KEY_ENTRY = 'keys/ca.key.pem';

export async function backup(svc: SigningService, out: string, opts: { includeCaKey?: boolean } = {}): Promise<BackupResult> {
  const work = mkdtempSync(join(tmpdir(), 'zv-backup-'));
  try {
    const snapshot = join(work, DB_FILE);
    await svc.store.db.backup(snapshot);
    const snap = new Database(snapshot, { readonly: true });
    let registered: { path: string; sha256: string; size: number }[];
    try {
      registered = snap.prepare('SELECT path, sha256, size FROM files ORDER BY path').all() as { path: string; sha256: string; size: number }[];
    } finally {
      snap.close();
    }
    const entries: Record<string, Uint8Array> = { [DB_FILE]: new Uint8Array(readFileSync(snapshot)) };
    const skipped: string[] = [];
    for (const f of registered) {
      const abs = absolutePath(svc.store.dataDir, f.path);
      // A sent message's .eml is deleted after delivery; anything else missing is a real loss.
      if (!existsSync(abs)) {
        if (!f.path.startsWith('outbox/')) throw new ArchiveError(`${f.path} is missing; run zv archive check before backing up`);
        skipped.push(f.path);
        continue;
      }
      let bytes = new Uint8Array(readFileSync(abs));
      // Renewed (zv archive renew) since the snapshot: a renewal only appends, the snapshot's state is its beginning.
      if (bytes.length > f.size && sha256Hex(bytes) !== f.sha256 && sha256Hex(bytes.subarray(0, f.size)) === f.sha256) bytes = bytes.subarray(0, f.size);
      if (sha256Hex(bytes) !== f.sha256) throw new ArchiveError(`${f.path} does not match its recorded SHA-256; run zv archive check before backing up`);
      entries[f.path] = bytes;
    }
    const keysDir = join(svc.store.dataDir, 'keys');
    let caKeyLeftOut = false;
    if (existsSync(keysDir)) {
      for (const abs of walk(keysDir)) {
        const name = relative(svc.store.dataDir, abs).split(sep).join('/');
        if (name === CA_KEY_ENTRY && !opts.includeCaKey) caKeyLeftOut = true;
        else entries[name] = new Uint8Array(readFileSync(abs));
      }
    }
    // The instance's PKI state besides the key store: the demo CA's revocation data and the demo TSA
    // (root, certificates, keys encrypted under the key store passphrase) — without its root the restored
    // instance trusts neither its time-stamps nor the anchors of its audit chains.
    const pkiDir = join(svc.store.dataDir, 'pki');
    if (existsSync(pkiDir)) {
      for (const abs of walk(pkiDir)) entries[relative(svc.store.dataDir, abs).split(sep).join('/')] = new Uint8Array(readFileSync(abs));
    }
    const zip = zipSync(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, [v, { level: k.endsWith('.pdf') ? 0 : 6 }]])) as never);
    mkdirSync(dirname(out), { recursive: true });
    writeFilesAtomically([{ path: out, bytes: zip }]);
    return { path: out, files: Object.keys(entries).length, bytes: zip.length, skipped, caKeyLeftOut };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Unpacks a backup into an empty (or new) data directory. */
export function restore(zipPath: string, dataDir: string): { files: number } {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new ArchiveError(`${dataDir} is not empty; restore into a new directory`);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(readFileSync(zipPath)));
  } catch (err) {
    throw new ArchiveError(`${zipPath} cannot be read as a backup ZIP: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}`);
  }
  if (!entries[DB_FILE]) throw new ArchiveError(`${zipPath} is not a Zielwerk backup (no ${DB_FILE})`);
  const files = Object.entries(entries).map(([name, bytes]) => {
    if (name.startsWith('/') || name.split('/').includes('..')) throw new ArchiveError(`${zipPath}: unsafe entry name ${name}`);
    const path = join(dataDir, ...name.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    return { path, bytes };
  });
  writeFilesAtomically(files);
  return { files: files.length };
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
