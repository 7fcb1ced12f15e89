/**
 * The embedded database: SQLite (better-sqlite3) in WAL mode inside the data directory, with
 * versioned migrations. One writer at a time (BEGIN IMMEDIATE); readers never block.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS } from './migrations.ts';

export type Db = Database.Database;

export const DB_FILE = 'zielwerk.db';

/** How long a writer waits for another process's write transaction before giving up. */
const BUSY_TIMEOUT_MS = 60_000;

export function openDatabase(dataDir: string, options: { readonly?: boolean } = {}): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, DB_FILE), { readonly: options.readonly ?? false });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    // FULL: a committed signature survives a power cut, not only a process crash.
    db.pragma('synchronous = FULL');
  }
  db.pragma('foreign_keys = ON');
  if (!options.readonly) migrate(db);
  return db;
}

/** Applies the migrations newer than the database's user_version, each in its own transaction. */
export function migrate(db: Db): number {
  // One migration per transaction: a table rebuild needs foreign keys off, which SQLite only allows outside one.
  const step = db.transaction((): boolean => {
    // Re-read inside the write lock: another process may have migrated meanwhile.
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`the database has schema version ${version}, newer than this Zielwerk (${MIGRATIONS.length}); update Zielwerk`);
    }
    if (version === MIGRATIONS.length) return false;
    const migration = MIGRATIONS[version]!;
    if (typeof migration === 'string') db.exec(migration);
    else {
      // Another process migrated between our look and the lock: go round again with the right pragma.
      if (db.pragma('foreign_keys', { simple: true })) return true;
      db.exec(migration.rebuild);
      const broken = db.pragma('foreign_key_check') as unknown[];
      if (broken.length) throw new Error(`migration ${version + 1} would break ${broken.length} foreign key reference(s)`);
    }
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  for (;;) {
    const next = db.pragma('user_version', { simple: true }) as number;
    const rebuild = typeof MIGRATIONS[next] === 'object';
    if (rebuild) db.pragma('foreign_keys = OFF');
    try {
      if (!step.immediate()) break;
    } finally {
      if (rebuild) db.pragma('foreign_keys = ON');
    }
  }
  return db.pragma('user_version', { simple: true }) as number;
}

/** The current time as an ISO instant; one place so that tests can pin it. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
