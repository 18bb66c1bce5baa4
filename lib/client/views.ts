// How a followed run is shown: live bars on a terminal, plain lines elsewhere (logs, pipes, CI). Views get
// every `progress` answer and print what changed; they remember finished iterations by index, since
// `progress.history` holds only the most recent ones.
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { iterationLabel, pct } from '../format';
import { STAGES, type EncoderEvaluation, type IterationSummary, type Progress } from '../contract';

export interface RunView {
  update(progress: Progress): void;
  /** A line that needs the user's attention (e.g. a stage waiting for a worker nobody started). */
  warn(line: string): void;
  stop(): void;
}

/** The stages of an iteration, in order (preparing the run is not one). */
export const ITERATION_STAGES = STAGES.filter((s) => s !== 'prepare');

/** The starting encoder's figures, said beside an iteration's so the gain of training shows. */
function startingText(base: EncoderEvaluation | undefined): string {
  if (!base || (base.knnAccuracy === null && base.linearProbeAccuracy === null)) return '';
  return ` (starting encoder: kNN ${pct(base.knnAccuracy)}, probe ${pct(base.linearProbeAccuracy)})`;
}

/**
 * One finished iteration, with what was not kept and the most likely concepts of the next distribution.
 * `base`: the starting encoder's evaluation (iteration 0 carries it; views remember it for later lines).
 */
export function formatIteration(
  s: IterationSummary,
  iterations = 0,
  base: EncoderEvaluation | undefined = s.evaluation?.base,
): string {
  const stages = Object.entries(s.stageMs)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`)
    .join(', ');
  return (
    `${iterationLabel(s.iteration, iterations)} done: ${s.queries} queries → ${s.results} results → ${s.downloaded} images (${s.failed} failed), ` +
    `${s.kept} kept; mean reward ${s.meanReward?.toFixed(3) ?? '—'}; kNN ${pct(s.knnAccuracy)}, probe ${pct(s.evaluation?.linearProbeAccuracy ?? null)}` +
    `${startingText(base)}; loss ${s.trainLoss?.toFixed(3) ?? '—'}; ${(s.wallMs / 1000).toFixed(0)}s (${stages})\n` +
    failureLine(s) +
    `  next distribution's most likely concepts: ${
      s.topConcepts
        .slice(0, 5)
        .map((c) => c.concept)
        .join(', ') || '—'
    }`
  );
}

function failureLine(s: IterationSummary): string {
  const failures = Object.entries(s.outcomes ?? {}).filter(([reason]) => reason !== 'ok' && reason !== 'duplicate');
  const excluded = s.excluded ? `; ${s.excluded} excluded as near-duplicates of the target` : '';
  return failures.length || excluded
    ? `  not kept: ${failures.map(([reason, n]) => `${reason} ${n}`).join(', ') || '—'}${excluded}\n`
    : '';
}

/** One line of totals: images, reward, accuracy and any control state. */
export function totalsLine(p: Progress): string {
  const flags = [
    p.controls?.paused ? 'paused' : null,
    p.controls?.stopRequested ? 'stop requested' : null,
    p.failed ? `iteration ${p.failed.iteration} failed: ${p.failed.error}` : null,
  ].filter(Boolean);
  return (
    `${p.imagesDownloaded} images downloaded, ${p.imagesKept} kept; mean reward ${p.meanReward?.toFixed(3) ?? '—'}; ` +
    `kNN ${pct(p.evaluation?.knnAccuracy)}` +
    (flags.length ? `; ${flags.join('; ')}` : '')
  );
}

/** Iterations finished so far (`iterationsDone` is absent from runs started before it existed). */
function doneOf(p: Progress): number {
  return p.iterationsDone ?? p.history.length;
}

/** The one-shot answer of `ie status RUN`; `failure` is why a closed execution failed, where it did. */
export function statusText(p: Progress, execution: string, failure?: string): string {
  const where =
    p.status === 'completed' || p.status === 'stopped'
      ? `${doneOf(p)}/${p.iterations} iterations`
      : p.status === 'failed' || p.status === 'preparing'
        ? `${doneOf(p)}/${p.iterations || '?'} iterations done`
        : `${iterationLabel(p.iteration, p.iterations)}, stage ${p.stage}`;
  const why = p.error ?? failure;
  const lines = [`run ${p.runId}: ${p.status} (Temporal: ${execution}), ${where}`];
  if (why && (p.status === 'failed' || execution !== 'RUNNING')) lines.push(`  failed: ${why}`);
  const base = p.history.find((h) => h.evaluation?.base)?.evaluation?.base;
  lines.push(`  ${totalsLine(p)}`, ...p.history.map((h) => formatIteration(h, p.iterations, base)));
  return lines.join('\n');
}

/**
 * Prints each finished iteration once, in order, given every answer of the run, with the starting encoder's
 * evaluation (carried by iteration 0's summary) remembered for the iterations after it.
 */
export class IterationPrinter {
  private printedThrough = -1;
  private base: EncoderEvaluation | undefined;
  constructor(
    private readonly print: (summary: IterationSummary, iterations: number, base?: EncoderEvaluation) => void,
  ) {}
  update(p: Progress): void {
    for (const h of p.history) {
      this.base ??= h.evaluation?.base;
      if (h.iteration <= this.printedThrough) continue;
      this.print(h, p.iterations, this.base);
      this.printedThrough = h.iteration;
    }
  }
}

export interface LinesViewOptions {
  /** How a finished iteration is printed; default formatIteration. */
  format?: (summary: IterationSummary, iterations: number, base?: EncoderEvaluation) => string;
  /** Also print each stage change of the current iteration and the run's status changes; default true. */
  stages?: boolean;
}

/** Prints each stage change and each finished iteration as a line. */
export function linesView(print: (line: string) => void, options: LinesViewOptions = {}): RunView {
  const format = options.format ?? formatIteration;
  const stages = options.stages ?? true;
  const iterations = new IterationPrinter((h, n, base) => print(format(h, n, base)));
  let lastStage = '';
  let lastStatus = '';
  return {
    update(p) {
      iterations.update(p);
      if (!stages) return;
      const stage = `${p.iteration}/${p.stage}`;
      if (p.status === 'running' && stage !== lastStage && p.stage !== 'continued-as-new') {
        print(`  ${iterationLabel(p.iteration, p.iterations)}: ${p.stage}…`);
        lastStage = stage;
      }
      if (p.status !== lastStatus && p.status !== 'running' && p.status !== 'preparing') print(`  run ${p.status}`);
      lastStatus = p.status;
    },
    warn(line) {
      print(line);
    },
    stop() {},
  };
}

/**
 * Live bars: the run's iterations, each stage of the current iteration, and totals. A running stage's bar
 * is estimated from how long the same stage took in the previous iteration.
 */
export function barsView(stream: NodeJS.WriteStream = process.stdout): RunView {
  const multi = new MultiBar(
    {
      stream,
      format: ' {label} |{bar}| {info}',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      fps: 5,
    },
    Presets.shades_classic,
  );
  const runBar = multi.create(1, 0, { label: 'iterations'.padEnd(10), info: '' });
  const stageBars = new Map<string, SingleBar>(
    ITERATION_STAGES.map((s) => [s, multi.create(100, 0, { label: s.padEnd(10), info: '' })]),
  );
  const totals = multi.create(1, 0, { info: '' }, { format: ' {info}' });
  const iterations = new IterationPrinter((h, n, base) => multi.log(`${formatIteration(h, n, base)}\n`));
  let current = '';
  let stageStarted = Date.now();

  return {
    update(p) {
      iterations.update(p);
      const done = doneOf(p);
      runBar.setTotal(Math.max(1, p.iterations));
      runBar.update(done, {
        info: `${done}/${p.iterations} done · ${p.status}${p.status === 'running' ? ` · ${iterationLabel(p.iteration, p.iterations)}` : ''}`,
      });
      const key = `${p.iteration}/${p.stage}`;
      if (key !== current) {
        current = key;
        stageStarted = Date.now();
      }
      const finished = p.status === 'completed' || done > p.iteration;
      const at = ITERATION_STAGES.indexOf(p.stage as (typeof ITERATION_STAGES)[number]);
      const previous = p.history[p.history.length - 1]?.stageMs ?? {};
      ITERATION_STAGES.forEach((stage, i) => {
        const bar = stageBars.get(stage) as SingleBar;
        if (finished || (at >= 0 && i < at)) return bar.update(100, { info: 'done' });
        if (i !== at) return bar.update(0, { info: '' });
        const elapsed = (Date.now() - stageStarted) / 1000;
        const estimate = (previous[stage] ?? 0) / 1000;
        const value = estimate > 0 ? Math.min(95, (100 * elapsed) / estimate) : 50;
        bar.update(value, {
          info: `running ${elapsed.toFixed(0)}s${estimate > 0 ? ` (previous iteration: ${estimate.toFixed(0)}s)` : ''}`,
        });
      });
      totals.update(0, { info: totalsLine(p) });
      // Draw now: logged lines are only written out with a redraw, and the run may end before the next one.
      multi.update();
    },
    warn(line) {
      multi.log(`${line}\n`);
      multi.update();
    },
    stop() {
      multi.stop();
    },
  };
}
