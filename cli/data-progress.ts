import { Presets, SingleBar } from 'cli-progress';
import type { FetchProgress, ProgressUnit } from '../lib/datasets/progress';

const LINE_EVERY_MS = 5000;

function amount(n: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? `${(n / 1e6).toFixed(1)} MB` : `${n} files`;
}

function seconds(ms: number): string {
  return ms < 60_000
    ? `${Math.round(ms / 1000)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** How far a step is, in words: done of total, rate, and the time left at that rate. */
export function progressText(done: number, total: number | undefined, unit: ProgressUnit, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
  const rateText = unit === 'bytes' ? `${(rate / 1e6).toFixed(1)} MB/s` : `${Math.round(rate)} files/s`;
  if (!total) return `${amount(done, unit)}, ${rateText}`;
  const eta = rate > 0 ? seconds(((total - done) / rate) * 1000) : '?';
  return `${Math.floor((100 * done) / total)}% (${amount(done, unit)} of ${amount(total, unit)}), ${rateText}, ETA ${eta}`;
}

/** Plain lines (logs, pipes, CI): a line every few seconds while a step runs, one when it ends. */
export function linesProgress(print: (line: string) => void, now: () => number = Date.now): FetchProgress {
  let step: { label: string; unit: ProgressUnit; total?: number; done: number; started: number; printed: number };
  return {
    begin(label, total, unit) {
      step = { label, unit, total, done: 0, started: now(), printed: now() };
    },
    update(done, total) {
      step.done = done;
      if (total !== undefined) step.total = total;
      if (now() - step.printed >= LINE_EVERY_MS) {
        step.printed = now();
        print(`  ${step.label}: ${progressText(done, step.total, step.unit, now() - step.started)}`);
      }
    },
    end(failed) {
      const size = step.done > 0 ? `${amount(step.done, step.unit)} in ` : '';
      print(`  ${step.label}: ${failed ? 'broke off' : 'done'} (${size}${seconds(now() - step.started)})`);
    },
    note: print,
  };
}

/** A live bar per step on a terminal, with cli-progress's ETA; steps of unknown size show bytes and rate. */
export function barsProgress(print: (line: string) => void): FetchProgress {
  let bar: SingleBar | undefined;
  let step: { label: string; unit: ProgressUnit; total?: number; started: number };
  const payload = (done: number) => ({
    label: step.label,
    amount: step.total
      ? `${amount(done, step.unit)} of ${amount(step.total, step.unit)}`
      : progressText(done, undefined, step.unit, Date.now() - step.started),
  });
  const open = (done: number) => {
    const known = step.total !== undefined;
    bar = new SingleBar(
      {
        format: known ? '  {label} |{bar}| {percentage}% | {amount} | ETA {eta_formatted}' : '  {label}: {amount}',
        hideCursor: true,
        etaBuffer: 100,
        fps: 5,
      },
      Presets.shades_classic,
    );
    bar.start(step.total ?? 1, done, payload(done));
  };
  return {
    begin(label, total, unit) {
      step = { label, unit, total, started: Date.now() };
      open(0);
    },
    update(done, total) {
      if (total !== undefined && step.total === undefined) {
        // The size became known (e.g. the server sent it): switch to a bar with an ETA.
        bar?.stop();
        step.total = total;
        open(done);
      }
      bar?.update(done, payload(done));
    },
    end(failed) {
      if (step.total && !failed) bar?.update(step.total, payload(step.total));
      bar?.stop();
      bar = undefined;
    },
    note(line) {
      print(line);
    },
  };
}
