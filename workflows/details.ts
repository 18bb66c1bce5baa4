// Markdown shown as a run's current details in the Temporal Web UI (and `temporal workflow describe`).
// Pure: rendered from the workflow's state on every change.
import { iterationLabel, pct } from '../lib/format';
import { iterationWorkflowId, noWorkerMessage, type IterationSummary, type Progress } from '../lib/contract';

const num = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '—' : x.toFixed(digits));

/** The exact commands that re-run a failed iteration. */
export function retryCommands(runId: string, iteration: number): string[] {
  return [
    `ie retry-iteration ${runId} ${iteration}`,
    `temporal workflow update execute --workflow-id ${runId} --name retryIteration --input '{"iteration": ${iteration}}'`,
  ];
}

function statusLine(p: Progress): string {
  const it = iterationLabel(p.iteration, p.iterations);
  switch (p.status) {
    case 'preparing':
      return '**Preparing**: validating the target and loading the concept vocabulary';
    case 'running':
      return p.stage === 'continued-as-new'
        ? `**Continued as new** after ${it}: the run goes on in its next execution (the latest one of \`${p.runId}\`)`
        : `**Running** ${it}, stage **${p.stage}**`;
    case 'paused':
      return `**Paused** before ${it} (resume: \`ie control resume ${p.runId}\`)`;
    case 'waiting-retry':
      return `**Iteration ${p.failed?.iteration ?? p.iteration} failed**; the run waits for a retry`;
    case 'completed':
      return `**Completed** ${p.iterationsDone} iterations`;
    case 'stopped':
      return `**Stopped** by request after ${p.iterationsDone} iterations`;
    case 'failed':
      return p.error ? `**Failed** before its first iteration: ${p.error}` : `**Failed** at iteration ${p.iteration}`;
  }
}

/**
 * The recent iterations' figures as a fixed-width table in a code block: the Web UI's markdown does not
 * render pipe tables, and aligned columns read the same in `temporal workflow describe`.
 */
function figures(history: IterationSummary[]): string[] {
  if (history.length === 0) return [];
  const header = ['iteration', 'downloaded', 'kept', 'mean reward', 'temperature', 'kNN', 'wall'];
  const rows = history.map((h) => [
    String(h.iteration),
    String(h.downloaded),
    String(h.kept),
    num(h.meanReward),
    num(h.temperature, 4),
    pct(h.knnAccuracy),
    `${(h.wallMs / 1000).toFixed(0)} s`,
  ]);
  const widths = header.map((title, c) => Math.max(title.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padStart(widths[c])).join('  ');
  return ['### Recent iterations', '', '```text', line(header), ...rows.map(line), '```', ''];
}

/** Current details of a run: where it is, what it found, what it is waiting for. */
export function runDetails(p: Progress, target: string | undefined): string {
  const lines = [`## Exploration run \`${p.runId}\``, '', statusLine(p), ''];
  if (p.status === 'running' && p.waitingFor) {
    const since = new Date(p.waitingFor.sinceMs).toISOString().replace(/\.\d+Z$/, 'Z');
    lines.push(`> **Waiting for a worker** since ${since}: ${noWorkerMessage(p.waitingFor)}`, '');
  }
  lines.push(
    `- target: **${target ?? '—'}**`,
    p.iterations > 0
      ? `- ${iterationLabel(p.iteration, p.iterations)}, stage: **${p.stage}**; ${p.iterationsDone} finished`
      : `- stage: **${p.stage}**`,
    `- images so far: **${p.imagesDownloaded}** downloaded, **${p.imagesKept}** kept`,
    `- mean reward (last iteration): **${num(p.meanReward)}**`,
  );
  const last = p.history[p.history.length - 1];
  if (last?.knnAccuracy != null || p.bestKnn != null)
    lines.push(`- kNN accuracy: last **${pct(last?.knnAccuracy)}**, best **${pct(p.bestKnn)}**`);
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
  return `${iterationLabel(iteration, iterations).replace(/^i/, 'I')} of ${runId}`;
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
