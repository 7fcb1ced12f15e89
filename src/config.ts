/**
 * Runtime settings shared by the CLI commands: where the data directory is (keys now; the
 * database, signatures and outbox later) and which time-stamp authority to use.
 */
import { resolve } from 'node:path';

/** --data, else ZV_DATA_DIR, else ./data (relative to the working directory). */
export function dataDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(option ?? env.ZV_DATA_DIR ?? 'data');
}

/** --tsa, else ZV_TSA_URL; none means signatures at PAdES B-B. */
export function tsaUrl(option?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = option ?? env.ZV_TSA_URL;
  return url ? url : undefined;
}
