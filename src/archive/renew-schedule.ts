/**
 * The monthly `zv archive renew` of a running server (`zv serve`): a check about a minute after the
 * start and then every hour; a run starts when the last one (CLI or server, remembered in the
 * database) is a month old — or a day old when it had failures. Timers are unref()'d, a failing
 * run is logged and never takes the server down, and `stop()` ends the schedule, letting a run in
 * progress finish the file it is on. The time is the service clock's (faketime moves it).
 */
import type { Logger } from 'pino';
import type { SigningService } from '../envelope/service.ts';
import { describeItem, describeSummary, lastRenewRun, renewArchive, type RenewReport } from './renew.ts';

const DAY_MS = 86_400_000;

export interface RenewScheduleOptions {
  /** Delay of the first check after the start (default 60 s). */
  firstCheckMs?: number;
  /** Between checks (default 1 h). */
  checkEveryMs?: number;
  /** A run is due this long after the last one (default 30 days). */
  intervalMs?: number;
  /** After a run with failures, the next one this long after it (default 1 day). */
  retryMs?: number;
}

export interface RenewSchedule {
  /** Ends the schedule; resolves when a run in progress has stopped. */
  stop(): Promise<void>;
  /** The run in progress, if any (tests). */
  readonly running: Promise<RenewReport | null> | null;
}

export function scheduleRenewal(svc: SigningService, log: Logger, opts: RenewScheduleOptions = {}): RenewSchedule {
  const firstCheckMs = opts.firstCheckMs ?? 60_000;
  const checkEveryMs = opts.checkEveryMs ?? 3_600_000;
  const intervalMs = opts.intervalMs ?? 30 * DAY_MS;
  const retryMs = opts.retryMs ?? DAY_MS;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<RenewReport | null> | null = null;
  /** After a run that threw, the next attempt not before this (in memory: the database may be what failed). */
  let notBefore = 0;

  const due = (): boolean => {
    const now = svc.store.clock().getTime();
    if (now < notBefore) return false;
    const last = lastRenewRun(svc);
    if (!last) return true;
    const since = now - Date.parse(last.at);
    return since >= intervalMs || (last.failed > 0 && since >= retryMs);
  };

  const run = async (): Promise<RenewReport | null> => {
    try {
      log.info('archive renew: monthly run started');
      const report = await renewArchive(svc, { actor: 'Zielwerk (monatliche Erneuerung)', shouldStop: () => stopped });
      for (const i of report.items) {
        if (i.status === 'failed') log.warn({ envelopeId: i.envelopeId, path: i.path, error: i.error }, `archive renew: ${describeItem(i)}`);
        else if (i.status === 'renewed') log.info({ envelopeId: i.envelopeId, path: i.path, sha256: i.newSha256 }, `archive renew: ${describeItem(i)}`);
      }
      const summary = { renewed: report.renewed, notDue: report.notDue, failed: report.failed, seconds: Math.round(report.seconds * 10) / 10, anchor: report.anchor?.id ?? null };
      if (report.failed || report.anchorError) log.warn(summary, `archive renew: ${describeSummary(report)}`);
      else log.info(summary, `archive renew: ${describeSummary(report)}`);
      return report;
    } catch (err) {
      notBefore = svc.store.clock().getTime() + retryMs;
      log.error({ err }, 'archive renew: the monthly run failed; next attempt in a day');
      return null;
    }
  };

  const tick = () => {
    timer = null;
    if (stopped) return;
    let start = false;
    try {
      start = !running && due();
    } catch (err) {
      log.error({ err }, 'archive renew: cannot read the last run');
    }
    if (start) {
      running = run().finally(() => {
        running = null;
      });
    }
    if (!stopped) {
      timer = setTimeout(tick, checkEveryMs);
      timer.unref();
    }
  };

  timer = setTimeout(tick, firstCheckMs);
  timer.unref();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (running) await running;
    },
    get running() {
      return running;
    },
  };
}
