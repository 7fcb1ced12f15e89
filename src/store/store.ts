/**
 * The store: database + files of one data directory. Every state change goes through `write`,
 * one IMMEDIATE transaction in which files are written (temp, fsync, rename) before the rows that
 * register them, and which removes those files again if it rolls back.
 */
import { openDatabase, systemClock, type Clock, type Db } from './db.ts';
import { FileWriter } from './files.ts';
import { sweep, type SweepReport } from './sweep.ts';

export interface StoreOptions {
  dataDir: string;
  clock?: Clock;
  /** Skip the startup sweep (the sweep itself, and read-only tools, use this). */
  skipSweep?: boolean;
}

/** Raised by a write whose snapshot is stale (another process changed the envelope); the caller retries. */
export class ConflictError extends Error {
  constructor(what: string) {
    super(`${what} was changed by another process meanwhile`);
  }
}

/**
 * Fault injection for crash tests: ZV_FAULT=<point> kills the process (SIGKILL, no clean-up) when
 * it reaches that point. Never set in normal use.
 */
export function faultPoint(point: string): void {
  if (process.env.ZV_FAULT && process.env.ZV_FAULT === point) process.kill(process.pid, 'SIGKILL');
}

export class Store {
  readonly db: Db;
  readonly dataDir: string;
  readonly clock: Clock;
  /** What the startup sweep found and did (empty arrays when nothing was left behind). */
  readonly sweepReport: SweepReport | null;

  private constructor(opts: StoreOptions) {
    this.dataDir = opts.dataDir;
    this.clock = opts.clock ?? systemClock;
    this.db = openDatabase(opts.dataDir);
    this.sweepReport = opts.skipSweep ? null : sweep(this);
  }

  static open(opts: StoreOptions): Store {
    return new Store(opts);
  }

  now(): string {
    return this.clock().toISOString();
  }

  /** One write transaction with its files; rolled back (files removed) if `fn` throws. */
  write<T>(fn: (files: FileWriter, now: string) => T): T {
    const files = new FileWriter(this.dataDir, this.db);
    const now = this.now();
    try {
      return this.db.transaction(() => fn(files, now)).immediate();
    } catch (err) {
      files.discard();
      throw err;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
