import { SingleBar, Presets } from 'cli-progress';
import type { BatchProgress } from '../batch/run.ts';

/** A progress bar on a terminal, plain lines otherwise, nothing when quiet. Always on stderr. */
export function batchProgress(quiet: boolean): BatchProgress | undefined {
  if (quiet) return undefined;
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      { format: '{bar} {value}/{total} Zielvereinbarungen | {eta_formatted} | {label}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
      Presets.shades_classic,
    );
    return {
      start: (total) => bar.start(total, 0, { label: '' }),
      tick: (done, label) => bar.update(done, { label }),
      stop: () => bar.stop(),
    };
  }
  let total = 0;
  return {
    start: (n) => (total = n),
    tick: (done, label) => process.stderr.write(`[${done}/${total}] ${label}\n`),
    stop: () => {},
  };
}
