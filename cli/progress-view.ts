// How a long step's progress is shown: a live bar with an ETA on a terminal, a plain line every few seconds
// elsewhere (logs, pipes, CI). Both take a StepProgress's calls.
import { Presets, SingleBar } from 'cli-progress';
import type { StepProgress, ProgressUnit } from '../lib/progress';

const LINE_EVERY_MS = 5000;

function amount(n: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? `${(n / 1e6).toFixed(1)} MB` : `${n} ${unit}`;
}

function rateText(perSecond: number, unit: ProgressUnit): string {
  if (unit === 'bytes') return `${(perSecond / 1e6).toFixed(1)} MB/s`;
  return `${perSecond >= 10 ? Math.round(perSecond) : perSecond.toFixed(2)} ${unit}/s`;
}

function seconds(ms: number): string {
  return ms < 60_000
    ? `${Math.round(ms / 1000)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/**
 * How far a step is, in words: done of total, rate, and the time left at that rate. The rate is what was
 * done in `elapsedMs` past `from` (where a resumed step started).
 */
export function progressText(
  done: number,
  total: number | undefined,
  unit: ProgressUnit,
  elapsedMs: number,
  from = 0,
): string {
  const rate = elapsedMs > 0 ? ((done - from) / elapsedMs) * 1000 : 0;
  if (!total) return `${amount(done, unit)}, ${rateText(rate, unit)}`;
  const eta = rate > 0 ? seconds(((total - done) / rate) * 1000) : '?';
  return `${Math.floor((100 * done) / total)}% (${amount(done, unit)} of ${amount(total, unit)}), ${rateText(rate, unit)}, ETA ${eta}`;
}

/** Plain lines (logs, pipes, CI): a line every few seconds while a step runs, one when it ends. */
export function linesProgress(print: (line: string) => void, now: () => number = Date.now): StepProgress {
  let step: {
    label: string;
    unit: ProgressUnit;
    total?: number;
    done: number;
    detail?: string;
    started: number;
    /** Where the rate counts from: 0, or the work a resumed step found done, at the time it said so. */
    from: number;
    fromAt: number;
    printed: number;
  };
  return {
    begin(label, total, unit) {
      step = { label, unit, total, done: 0, started: now(), from: 0, fromAt: now(), printed: now() };
      print(`  ${label}…`);
    },
    resumed(done) {
      step.done = done;
      step.from = done;
      step.fromAt = now();
    },
    update(done, total, detail) {
      step.done = done;
      if (total !== undefined) step.total = total;
      if (detail !== undefined) step.detail = detail;
      if (now() - step.printed >= LINE_EVERY_MS) {
        step.printed = now();
        const text = progressText(done, step.total, step.unit, now() - step.fromAt, step.from);
        print(`  ${step.label}: ${text}${step.detail ? `; ${step.detail}` : ''}`);
      }
    },
    end(failed) {
      const size = step.done > step.from ? `${amount(step.done - step.from, step.unit)} in ` : '';
      const detail = step.detail && !failed ? `; ${step.detail}` : '';
      print(`  ${step.label}: ${failed ? 'broke off' : 'done'} (${size}${seconds(now() - step.started)})${detail}`);
    },
    note: print,
  };
}

/** A live bar per step on a terminal, with cli-progress's ETA; steps of unknown size show amount and rate. */
export function barsProgress(print: (line: string) => void): StepProgress {
  let bar: SingleBar | undefined;
  let step: { label: string; unit: ProgressUnit; total?: number; started: number; from: number; detail: string };
  const payload = (done: number) => ({
    label: step.label,
    amount: step.total
      ? `${amount(done, step.unit)} of ${amount(step.total, step.unit)}`
      : progressText(done, undefined, step.unit, Date.now() - step.started, step.from),
    detail: step.detail ? ` | ${step.detail}` : '',
  });
  const open = (done: number) => {
    const known = step.total !== undefined;
    bar = new SingleBar(
      {
        format: known
          ? '  {label} |{bar}| {percentage}% | {amount} | ETA {eta_formatted}{detail}'
          : '  {label}: {amount}{detail}',
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
      step = { label, unit, total, started: Date.now(), from: 0, detail: '' };
      open(0);
    },
    resumed(done) {
      step.started = Date.now();
      step.from = done;
      // A restart of the same bar: its ETA then counts from here, not from 0.
      bar?.start(step.total ?? 1, done, payload(done));
    },
    update(done, total, detail) {
      if (detail !== undefined) step.detail = detail;
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

/** Bars on a terminal, plain lines elsewhere. */
export function consoleProgress(print: (line: string) => void): StepProgress {
  return process.stdout.isTTY ? barsProgress(print) : linesProgress(print);
}
