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

function positiveInt(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 3650) throw new Error(`${name} must be a whole number of days (0–3650), got "${raw}"`);
  return n;
}

/** How long a personal signing link is valid (ZV_LINK_DAYS, default 30). */
export const linkValidityDays = (env: NodeJS.ProcessEnv = process.env) => positiveInt('ZV_LINK_DAYS', 30, env) || 30;

/** How many days before a link expires its reminder goes out (ZV_REMIND_DAYS, default 7; 0 = no reminders). */
export const reminderDays = (env: NodeJS.ProcessEnv = process.env) => positiveInt('ZV_REMIND_DAYS', 7, env);

/** The address under which the web app serves personal links (ZV_BASE_URL). */
export const publicBaseUrl = (env: NodeJS.ProcessEnv = process.env) => env.ZV_BASE_URL || 'http://localhost:3000';

/** Sender of notifications (ZV_MAIL_FROM). */
export const mailFrom = (env: NodeJS.ProcessEnv = process.env) => env.ZV_MAIL_FROM || 'Zielwerk <zielwerk@localhost>';
