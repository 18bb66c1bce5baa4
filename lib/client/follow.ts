import type { Client } from '@temporalio/client';
import type { FailedIteration, Progress } from '../contract';
import { sleep } from '../services/process';
import { missingWorkers, missingWorkerText } from './missing-workers';
import { CLOSED_EXECUTIONS, readRunState } from './run-state';
import type { RunView } from './views';

export interface FollowResult {
  /** Temporal's status of the run's latest execution when following stopped. */
  execution: string;
  /** The last progress answer (null when no worker ever answered). */
  progress: Progress | null;
  /** Why a closed execution failed, where it did. */
  failure?: string;
  /** Set when the run stopped at a failed iteration and waits for `ie retry-iteration`. */
  waiting?: FailedIteration;
}

export interface FollowOptions {
  /** Time between progress queries; default 1 s. */
  intervalMs?: number;
  /** Time between checks that every queue the run waits on has a worker; default 15 s. */
  workerCheckMs?: number;
}

/**
 * The one follow loop (ie demo, ie run --follow, ie status --follow, the benchmark): polls the run's
 * state, hands each answer to `view`, and returns once the run's chain of executions has closed, or when
 * the run waits on a failed iteration (following would never end). Queries go to the workflow id, so they
 * reach the latest execution after every Continue-As-New.
 */
export async function followRun(
  client: Client,
  runId: string,
  view: RunView,
  { intervalMs = 1000, workerCheckMs = 15_000 }: FollowOptions = {},
): Promise<FollowResult> {
  let last: Progress | null = null;
  let checked = Date.now();
  let warned = new Set<string>();
  try {
    for (;;) {
      const state = await readRunState(client, runId);
      if (state.progress) {
        last = state.progress;
        view.update(state.progress);
      }
      if (Date.now() - checked >= workerCheckMs) {
        checked = Date.now();
        // Each warning once while it holds; again if it comes back after a worker went away.
        const lines = new Set(missingWorkerText(await missingWorkers(client, state)));
        for (const line of lines) if (!warned.has(line)) view.warn(line);
        warned = lines;
      }
      if (state.progress?.status === 'waiting-retry')
        return { execution: state.execution, progress: last, waiting: state.progress.failed ?? undefined };
      if (CLOSED_EXECUTIONS.has(state.execution))
        return { execution: state.execution, progress: state.progress ?? last, failure: state.failure };
      await sleep(intervalMs);
    }
  } finally {
    view.stop();
  }
}

/** Whether a followed run ended well: it completed or was stopped on request. */
export function endedWell(result: FollowResult): boolean {
  if (result.waiting) return false;
  const status = result.progress?.status;
  if (status === 'completed' || status === 'stopped') return true;
  return result.execution === 'COMPLETED' && status !== 'failed';
}

/** What to do about a run waiting on a failed iteration. */
export function waitingRetryText(runId: string, failed: FailedIteration | null | undefined): string {
  const which = failed ? `iteration ${failed.iteration} failed: ${failed.error}` : 'an iteration failed';
  const retry = failed ? `ie retry-iteration ${runId} ${failed.iteration}` : `ie status ${runId}`;
  return `run ${runId} is waiting: ${which}\n  fix the cause, then: ${retry}   (or end it: ie stop ${runId})`;
}
