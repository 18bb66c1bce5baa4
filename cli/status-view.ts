import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { pct } from '../lib/format';
import { STAGES } from '../lib/queues';
import { formatIteration } from './follow';
import type { Progress } from '../workflows/types';

/** How a followed run is shown: live bars on a terminal, plain lines elsewhere (logs, pipes, CI). */
export interface StatusView {
  update(progress: Progress): void;
  stop(): void;
}

/** The stages of an iteration, in order (preparing the run is not one). */
export const ITERATION_STAGES = STAGES.filter((s) => s !== 'prepare');

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

/** The one-shot answer of `ie status RUN`. */
export function statusText(p: Progress, execution: string): string {
  const head =
    `run ${p.runId}: ${p.status} (Temporal: ${execution}), ` +
    (p.status === 'completed'
      ? `${p.history.length}/${p.iterations} iterations`
      : `iteration ${p.iteration + 1}/${p.iterations}, stage ${p.stage}`);
  return [head, `  ${totalsLine(p)}`, ...p.history.map(formatIteration)].join('\n');
}

/** Prints each stage change and each finished iteration as a line. */
export function linesView(print: (line: string) => void): StatusView {
  let printed = 0;
  let lastStage = '';
  let lastStatus = '';
  return {
    update(p) {
      for (; printed < p.history.length; printed++) print(formatIteration(p.history[printed]));
      const stage = `${p.iteration}/${p.stage}`;
      if (p.status === 'running' && stage !== lastStage) {
        print(`  [iteration ${p.iteration + 1}/${p.iterations}] ${p.stage}…`);
        lastStage = stage;
      }
      if (p.status !== lastStatus && p.status !== 'running') print(`  run ${p.status}`);
      lastStatus = p.status;
    },
    stop() {},
  };
}

/**
 * Live bars: the run's iterations, each stage of the current iteration, and totals. A running stage's bar
 * is estimated from how long the same stage took in the previous iteration.
 */
export function barsView(stream: NodeJS.WriteStream = process.stdout): StatusView {
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
  let printed = 0;
  let current = '';
  let stageStarted = Date.now();

  return {
    update(p) {
      for (; printed < p.history.length; printed++) multi.log(`${formatIteration(p.history[printed])}\n`);
      runBar.setTotal(Math.max(1, p.iterations));
      runBar.update(p.history.length, {
        info: `${p.history.length}/${p.iterations} done · ${p.status}${p.status === 'running' ? ` · iteration ${p.iteration + 1}` : ''}`,
      });
      const key = `${p.iteration}/${p.stage}`;
      if (key !== current) {
        current = key;
        stageStarted = Date.now();
      }
      const finished = p.status === 'completed' || p.history.length > p.iteration;
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
    stop() {
      multi.stop();
    },
  };
}
