import {
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  log,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import {
  IO_QUEUE,
  iterationWorkflowId,
  type ExplorationRunWorkflow,
  type FailedIteration,
  type IterationSummary,
  type Progress,
  type RunCarry,
  type RunInput,
} from '../lib/contract';
import { iterationStaticDetails, iterationSummaryLine } from './details';
import { explorationIteration } from './iteration';
import { setRunHandlers } from './run-handlers';
import { RunState } from './run-state';

const io = proxyActivities<typeof activities>({
  taskQueue: IO_QUEUE,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['ConfigError', 'TargetError'] },
});

/**
 * One exploration run. Each iteration is its own child workflow execution (visible in the Web UI as
 * `<run>-iter-NNN`); the run continues as new after every iteration, carrying a bounded state (totals and
 * the last few summaries), so its history stays the same size however many iterations it has. Controls
 * (pause, resume, stop, temperature, concepts) arrive as validated updates and are carried across
 * Continue-As-New; a failed iteration makes the run wait for `retryIteration` instead of failing it.
 */
export async function explorationRun(input: RunInput): Promise<Progress> {
  const runId = workflowInfo().workflowId;
  const state = new RunState(runId, input.resume);
  const progress = state.progress;
  let retryRequested = false;
  setRunHandlers(state, { retryRequested: () => (retryRequested = true) });

  const carry = input.resume ?? (await prepare(state, input));
  const iteration = carry.nextIteration;
  progress.iterations = carry.iterations;
  progress.iteration = Math.min(iteration, Math.max(carry.iterations - 1, 0));
  if (iteration < carry.iterations && state.controls.paused) await waitWhilePaused();
  if (iteration < carry.iterations && !state.controls.stopRequested) {
    progress.status = 'running';
    progress.stage = 'sample';
    state.publish();
    const summary = await runIteration(iteration);
    if (summary) {
      log.info('iteration finished', { runId, iteration, meanReward: summary.meanReward, knn: summary.knnAccuracy });
      state.iterationFinished(summary);
      if (iteration + 1 < carry.iterations && !state.controls.stopRequested) {
        progress.stage = 'continued-as-new';
        state.publish();
        // Updates still recording their control finish in this execution, so none is lost.
        await condition(allHandlersFinished);
        const { recent: _r, totals: _t, history: _h, controls: _c, distributionTop: _d, ...base } = carry;
        await continueAsNew<ExplorationRunWorkflow>({ ...input, resume: state.carry(base, iteration + 1) });
      }
    }
  }

  const status =
    progress.failed !== null ? 'failed' : progress.iterationsDone < carry.iterations ? 'stopped' : 'completed';
  await io.finishRun({ runId, status });
  progress.status = status;
  progress.stage = 'done';
  state.publish();
  await condition(allHandlersFinished);
  return progress;

  async function waitWhilePaused(): Promise<void> {
    progress.status = 'paused';
    progress.stage = 'paused';
    state.publish();
    await io.setRunStatus({ runId, status: 'paused' });
    await condition(() => !state.controls.paused || state.controls.stopRequested);
    if (!state.controls.stopRequested) await io.setRunStatus({ runId, status: 'running' });
  }

  /**
   * Runs one iteration's execution; when it fails, records the failure and waits for a retry (a new
   * execution under the same id, reusing what is stored) or a stop (undefined).
   */
  async function runIteration(i: number): Promise<IterationSummary | undefined> {
    let failures = 0;
    for (;;) {
      try {
        return await executeChild(explorationIteration, {
          workflowId: iterationWorkflowId(runId, i),
          args: [
            {
              runId,
              iteration: i,
              parentWorkflowId: runId,
              hasLabels: carry.hasLabels,
              ...(carry.downloadShards && carry.downloadShards > 1 && { downloadShards: carry.downloadShards }),
            },
          ],
          staticSummary: iterationSummaryLine(runId, i, carry.iterations),
          staticDetails: iterationStaticDetails(i, carry.hasLabels),
        });
      } catch (err) {
        failures += 1;
        const failed: FailedIteration = { iteration: i, error: failureMessage(err), failures };
        progress.failed = failed;
        progress.status = 'waiting-retry';
        state.publish();
        log.warn('iteration failed; waiting for a retry', { runId, iteration: i, failures, error: failed.error });
        await io.recordIterationFailure({ runId, iteration: i, failure: failures, error: failed.error });
        await condition(() => retryRequested || state.controls.stopRequested);
        if (!retryRequested) return undefined;
        retryRequested = false;
        await io.markIterationRetried({ runId, iteration: i, failure: failures });
        progress.failed = null;
        progress.status = 'running';
        progress.stage = 'sample';
        state.publish();
      }
    }
  }
}

// The workflow registered under RUN_WORKFLOW has the contract's signature.
explorationRun satisfies ExplorationRunWorkflow;

/**
 * Validates and stores the run (the `prepareRun` activity). A bad config or target fails the run at once:
 * its status, search attribute and details say why before the failure ends the execution.
 */
async function prepare(state: RunState, input: RunInput): Promise<RunCarry> {
  const runId = state.progress.runId;
  state.publish();
  const { resume: _resume, ...config } = input;
  try {
    const prepared = await io.prepareRun({ runId, config });
    state.target = prepared.target;
    state.mode = prepared.mode;
    return {
      nextIteration: 0,
      iterations: prepared.iterations,
      hasLabels: prepared.hasLabels,
      downloadShards: prepared.downloadShards,
      target: prepared.target,
      mode: prepared.mode,
    };
  } catch (err) {
    state.progress.status = 'failed';
    state.progress.stage = 'done';
    state.progress.error = failureMessage(err);
    state.publish();
    log.warn('run failed before its first iteration', { runId, error: state.progress.error });
    await condition(allHandlersFinished);
    throw err;
  }
}

/** The innermost message of a child failure (activity → iteration → run wraps it twice). */
function failureMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause as { message?: string; cause?: unknown };
    if (e.message) message = e.message;
  }
  return message.slice(0, 2000);
}
