/**
 * Files of the store: written under the data directory inside the write transaction that
 * registers them (temporary name, fsync, rename, directory fsync, then the row), so a committed
 * row always has its complete file, and a crash leaves at most an unregistered file for the sweep.
 * Registered files are never overwritten.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Db } from './db.ts';
import { fsyncDirectory, writeDurably } from './atomic.ts';
import { sha256Hex } from '../digest.ts';

export type FileKind = 'draft-pdf' | 'draft-docx' | 'signed-step' | 'signed-pdf' | 'audit-report' | 'outbox-eml' | 'paper-scan';

export interface StoredFile {
  id: number;
  path: string;
  kind: FileKind;
  size: number;
  sha256: string;
  created_at: string;
}

/** Folders of the data directory that hold registered files (and nothing else). */
export const MANAGED_DIRS = ['output', 'signatures', 'outbox'] as const;

export { sha256Hex };

export class FileIntegrityError extends Error {}

/** A file to be written and registered in one transaction. */
export interface NewFile {
  path: string;
  kind: FileKind;
  bytes: Uint8Array;
}

/**
 * Collects the files written during one transaction so that a rollback can remove them again.
 * Use: `const w = new FileWriter(dataDir, db)` inside the transaction, `w.write(...)`, and
 * `w.discard()` in the catch around the transaction.
 */
export class FileWriter {
  private written: string[] = [];

  constructor(
    private readonly dataDir: string,
    private readonly db: Db,
  ) {}

  /** Writes and registers a file; must be called inside a write transaction. */
  write(file: NewFile, at: string): StoredFile {
    if (!this.db.inTransaction) throw new Error('FileWriter.write outside a transaction');
    assertRelative(file.path);
    const existing = this.db.prepare('SELECT id FROM files WHERE path = ?').get(file.path);
    if (existing) throw new Error(`refusing to overwrite the registered file ${file.path}`);
    const abs = join(this.dataDir, file.path);
    mkdirSync(dirname(abs), { recursive: true });
    const temp = join(dirname(abs), `.${basename(abs)}.${randomBytes(6).toString('hex')}.tmp`);
    writeDurably(temp, file.bytes);
    this.written.push(abs);
    renameSync(temp, abs);
    fsyncDirectory(dirname(abs));
    const row = { path: file.path, kind: file.kind, size: file.bytes.length, sha256: sha256Hex(file.bytes), created_at: at };
    const id = Number(this.db.prepare('INSERT INTO files (path, kind, size, sha256, created_at) VALUES (@path, @kind, @size, @sha256, @created_at)').run(row).lastInsertRowid);
    return { id, ...row };
  }

  /** Removes what this writer wrote (after a rolled-back transaction). */
  discard(): void {
    for (const abs of this.written) rmSync(abs, { force: true });
    this.written = [];
  }
}

function assertRelative(path: string): void {
  if (path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '' || p === '.') || path.includes('\\')) {
    throw new Error(`bad store path "${path}"`);
  }
}

export function fileById(db: Db, id: number): StoredFile {
  const row = db.prepare('SELECT * FROM files WHERE id = ?').get(id) as StoredFile | undefined;
  if (!row) throw new FileIntegrityError(`file #${id} is not registered`);
  return row;
}

/** Reads a registered file and checks it against its recorded size and SHA-256. */
export function readStoredFile(dataDir: string, file: StoredFile): Uint8Array {
  const abs = absolutePath(dataDir, file.path);
  if (!existsSync(abs)) throw new FileIntegrityError(`${file.path} is missing`);
  const bytes = new Uint8Array(readFileSync(abs));
  const sha = sha256Hex(bytes);
  if (bytes.length !== file.size || sha !== file.sha256) {
    throw new FileIntegrityError(`${file.path} was changed on disk (SHA-256 ${sha.slice(0, 16)}…, recorded ${file.sha256.slice(0, 16)}…)`);
  }
  return bytes;
}

export const absolutePath = (dataDir: string, rel: string) => join(dataDir, ...rel.split('/'));
export const relativePath = (parts: string[]) => parts.join('/');
export const toStorePath = (rel: string) => rel.split(sep).join('/');

/**
 * A name safe in paths: lower case ASCII letters, digits and hyphens; umlauts and ß transliterated
 * (ä → ae), other accents dropped (é → e); at most `max` characters; `fallback` when nothing is left.
 * The one slug of the code base (key files, signature and mail file names).
 */
export function slug(text: string, max = 60, fallback = 'x'): string {
  const ascii = text
    .replace(/ä/g, 'ae')
    .replace(/ö/g, 'oe')
    .replace(/ü/g, 'ue')
    .replace(/Ä/g, 'Ae')
    .replace(/Ö/g, 'Oe')
    .replace(/Ü/g, 'Ue')
    .replace(/ß/g, 'ss')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '');
  return (
    ascii
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, max)
      .replace(/-+$/, '') || fallback
  );
}

/**
 * The registered draft PDF (kind draft-pdf) that `bytes` begins with, if any: what "this is a
 * draft Zielwerk generated" means for a file signed outside an envelope.
 */
export function registeredDraftOf(db: Db, dataDir: string, bytes: Uint8Array): Uint8Array | undefined {
  const sizes = db.prepare("SELECT DISTINCT size FROM files WHERE kind = 'draft-pdf' AND size <= ?").pluck().all(bytes.length) as number[];
  for (const size of sizes) {
    const sha = sha256Hex(bytes.subarray(0, size));
    const file = db.prepare("SELECT * FROM files WHERE kind = 'draft-pdf' AND size = ? AND sha256 = ?").get(size, sha) as StoredFile | undefined;
    if (file) return readStoredFile(dataDir, file);
  }
  return undefined;
}
