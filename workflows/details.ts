// Markdown shown as a run's current details in the Temporal Web UI (and `temporal workflow describe`).
// Pure: rendered from the workflow's state on every change.
import { pct } from '../lib/format';
import { iterationWorkflowId } from '../lib/queues';
import type { IterationSummary, Progress } from './types';

const num = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '—' : x.toFixed(digits));

/** The exact commands that re-run a failed iteration. */
export function retryCommands(runId: string, iteration: number): string[] {
  return [
    `ie retry-iteration ${runId} ${iteration}`,
    `temporal workflow update execute --workflow-id ${runId} --name retryIteration --input '{"iteration": ${iteration}}'`,
  ];
}

function statusLine(p: Progress): string {
  switch (p.status) {
    case 'preparing':
      return '**Preparing**: validating the target and loading the concept vocabulary';
    case 'running':
      return `**Running** iteration ${p.iteration + 1} of ${p.iterations}, stage **${p.stage}**`;
    case 'paused':
      return `**Paused** before iteration ${p.iteration + 1} of ${p.iterations} (resume: \`ie control resume ${p.runId}\`)`;
    case 'waiting-retry':
      return `**Iteration ${p.failed?.iteration ?? p.iteration} failed**; the run waits for a retry`;
    case 'completed':
      return `**Completed** ${p.history.length} iterations`;
    case 'stopped':
      return `**Stopped** by request after ${p.history.length} iterations`;
    case 'failed':
      return `**Failed** at iteration ${p.iteration}`;
  }
}

function figures(history: IterationSummary[]): string[] {
  if (history.length === 0) return [];
  const rows = history.map(
    (h) =>
      `| ${h.iteration} | ${h.downloaded} | ${h.kept} | ${num(h.meanReward)} | ${num(h.temperature, 4)} | ${pct(h.knnAccuracy)} | ${(h.wallMs / 1000).toFixed(0)} s |`,
  );
  return [
    '### Iterations',
    '',
    '| iteration | downloaded | kept | mean reward | temperature | kNN | wall |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ];
}

/** Current details of a run: where it is, what it found, what it is waiting for. */
export function runDetails(p: Progress, target: string | undefined): string {
  const lines = [`## Exploration run \`${p.runId}\``, '', statusLine(p), ''];
  lines.push(
    `- target: **${target ?? '—'}**`,
    p.iterations > 0
      ? `- iteration: **${Math.min(p.iteration + 1, p.iterations)} / ${p.iterations}**, stage: **${p.stage}**`
      : `- stage: **${p.stage}**`,
    `- images so far: **${p.imagesDownloaded}** downloaded, **${p.imagesKept}** kept`,
    `- mean reward (last iteration): **${num(p.meanReward)}**`,
  );
  const knns = p.history.map((h) => h.knnAccuracy).filter((k): k is number => k !== null);
  if (knns.length)
    lines.push(`- kNN accuracy: last **${pct(knns[knns.length - 1])}**, best **${pct(Math.max(...knns))}**`);
  const c = p.controls;
  const controls = [
    c.paused ? 'paused' : null,
    c.stopRequested ? 'stops after this iteration' : null,
    c.temperature !== null ? `temperature set to ${c.temperature}` : null,
    c.addedConcepts ? `${c.addedConcepts} concepts added by hand` : null,
  ].filter(Boolean);
  if (controls.length) lines.push(`- controls: ${controls.join('; ')}`);
  lines.push('');
  if (p.failed) {
    lines.push(
      `### Iteration ${p.failed.iteration} failed (${p.failed.failures}×)`,
      '',
      `Execution \`${iterationWorkflowId(p.runId, p.failed.iteration)}\`: ${p.failed.error}`,
      '',
      'Fix the cause, then re-run it (everything already stored is reused):',
      '',
      ...retryCommands(p.runId, p.failed.iteration).map((cmd) => `    ${cmd}`),
      '',
    );
  }
  if (p.topConcepts.length) {
    lines.push(
      '### Top concepts',
      '',
      p.topConcepts
        .slice(0, 8)
        .map((t) => `${t.concept} (${(100 * t.probability).toFixed(2)}%)`)
        .join(', '),
      '',
    );
  }
  lines.push(...figures(p.history));
  return lines.join('\n');
}

/** One-line summary of an iteration's execution, shown in the run's event list. */
export function iterationSummaryLine(runId: string, iteration: number, iterations: number): string {
  return `Iteration ${iteration + 1} of ${iterations} of ${runId}`;
}

/** Static details of an iteration's execution: what it does. */
export function iterationStaticDetails(iteration: number, hasLabels: boolean): string {
  return [
    `### Iteration ${iteration}`,
    '',
    'sample concepts → search → download → train (MoCo v3) → score → update p(c)' +
      (hasLabels ? ' → evaluate (kNN, linear probe)' : ''),
    '',
    'Each stage is an idempotent activity: a re-run reuses what is already stored.',
  ].join('\n');
}
