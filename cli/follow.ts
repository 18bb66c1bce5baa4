import type { Client } from '@temporalio/client';
import { pct } from '../lib/format';
import { sleep } from '../lib/services/process';
import type { IterationSummary, Progress } from '../workflows/types';
import { waitingRetryText } from './commands/status';

/** Raised when the followed run stops at a failed iteration and waits for `ie retry-iteration`. */
export class RunWaitingError extends Error {
  override readonly name = 'RunWaitingError';
}

export function formatIteration(s: IterationSummary): string {
  const stages = Object.entries(s.stageMs)
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`)
    .join(', ');
  return (
    `iteration ${s.iteration}: ${s.queries} queries → ${s.results} results → ${s.downloaded} images (${s.failed} failed), ` +
    `${s.kept} kept; mean reward ${s.meanReward?.toFixed(3) ?? '—'}; kNN ${pct(s.knnAccuracy)}, probe ${pct(s.evaluation?.linearProbeAccuracy ?? null)}; ` +
    `loss ${s.trainLoss?.toFixed(3) ?? '—'}; ${(s.wallMs / 1000).toFixed(0)}s (${stages})\n` +
    failureLine(s) +
    `  top concepts: ${
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

export interface FollowOptions {
  /** How a finished iteration is printed; default formatIteration. */
  format?: (summary: IterationSummary) => string;
  /** Also print each stage change of the current iteration; default true. */
  stages?: boolean;
  /** Time between progress queries; default 2 s. */
  intervalMs?: number;
}

/**
 * Follows a run until it ends, printing each finished iteration (and each stage change). Queries go to the
 * workflow id, so they reach the latest run after every Continue-As-New. Rejects with RunWaitingError when
 * an iteration fails and the run waits for a retry.
 */
export async function followRun(
  client: Client,
  workflowId: string,
  print: (line: string) => void,
  { format = formatIteration, stages = true, intervalMs = 2000 }: FollowOptions = {},
): Promise<Progress> {
  const handle = client.workflow.getHandle(workflowId);
  let printed = 0;
  let lastStage = '';
  const resultPromise = handle.result() as Promise<Progress>;
  let finished = false;
  resultPromise.then(
    () => (finished = true),
    () => (finished = true),
  );
  while (!finished) {
    try {
      const p = await handle.query<Progress>('progress');
      for (; printed < p.history.length; printed++) print(format(p.history[printed]));
      if (p.status === 'waiting-retry') throw new RunWaitingError(waitingRetryText(workflowId, p));
      const stage = `${p.iteration}/${p.stage}`;
      if (stages && stage !== lastStage && p.status === 'running') {
        print(`  [iteration ${p.iteration + 1}/${p.iterations}] ${p.stage}…`);
        lastStage = stage;
      }
    } catch (error) {
      if (error instanceof RunWaitingError) throw error;
      // between runs (Continue-As-New) or not started yet: try again
    }
    await Promise.race([sleep(intervalMs), resultPromise.catch(() => undefined)]);
  }
  const result = await resultPromise;
  for (; printed < result.history.length; printed++) print(format(result.history[printed]));
  return result;
}
