import {
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  proxyActivities,
  setHandler,
  workflowInfo,
  log,
  ApplicationFailure,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import { IO_QUEUE, ITERATION_WORKFLOW, iterationWorkflowId } from '../lib/queues';
import type { IterationSummary, Progress, RunCarry, RunInput, StageUpdate } from './types';

export const progressQuery = defineQuery<Progress>('progress');
export const stageSignal = defineSignal<[StageUpdate]>('iterationStage');

const { prepareRun, finishRun } = proxyActivities<typeof activities>({
  taskQueue: IO_QUEUE,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['ConfigError', 'TargetError'] },
});

/**
 * One exploration run. Each iteration is its own child workflow execution (visible in the Web UI as
 * `<run>-iter-NNN`); the run continues as new after every iteration so its history stays small
 * however many iterations it has.
 */
export async function explorationRun(input: RunInput): Promise<Progress> {
  const runId = workflowInfo().workflowId;
  let carry: RunCarry;
  const progress: Progress = {
    runId,
    status: 'preparing',
    iteration: input.resume?.nextIteration ?? 0,
    iterations: input.resume?.iterations ?? 0,
    stage: 'prepare',
    imagesDownloaded: 0,
    imagesKept: 0,
    meanReward: null,
    topConcepts: [],
    evaluation: null,
    history: input.resume?.history ?? [],
  };
  refreshTotals(progress);
  setHandler(progressQuery, () => progress);
  setHandler(stageSignal, (update) => {
    if (update.iteration !== progress.iteration) return;
    progress.stage = update.stage;
    if (update.downloaded !== undefined)
      progress.imagesDownloaded = totalOf(progress.history, 'downloaded') + update.downloaded;
  });

  if (input.resume) {
    carry = input.resume;
  } else {
    const { resume: _resume, ...config } = input;
    const prepared = await prepareRun({ runId, config });
    carry = { nextIteration: 0, iterations: prepared.iterations, hasLabels: prepared.hasLabels, history: [] };
    progress.iterations = prepared.iterations;
  }
  progress.status = 'running';

  const iteration = carry.nextIteration;
  if (iteration < carry.iterations) {
    progress.iteration = iteration;
    progress.stage = 'sample';
    let summary: IterationSummary;
    try {
      summary = await executeChild(ITERATION_WORKFLOW, {
        workflowId: iterationWorkflowId(runId, iteration),
        args: [{ runId, iteration, parentWorkflowId: runId, hasLabels: carry.hasLabels }],
      });
    } catch (err) {
      progress.status = 'failed';
      await finishRun({ runId, status: 'failed' });
      throw ApplicationFailure.nonRetryable(`iteration ${iteration} of run ${runId} failed: ${(err as Error).message}`);
    }
    log.info('iteration finished', { runId, iteration, meanReward: summary.meanReward, knn: summary.knnAccuracy });
    const history = [...carry.history, summary];
    if (iteration + 1 < carry.iterations) {
      await continueAsNew<typeof explorationRun>({
        ...input,
        resume: { ...carry, nextIteration: iteration + 1, history },
      });
    }
    progress.history = history;
  }
  await finishRun({ runId, status: 'completed' });
  progress.status = 'completed';
  progress.stage = 'done';
  progress.iteration = carry.iterations - 1;
  refreshTotals(progress);
  return progress;
}

function totalOf(history: IterationSummary[], key: 'downloaded' | 'kept'): number {
  return history.reduce((sum, h) => sum + h[key], 0);
}

function refreshTotals(progress: Progress): void {
  const last = progress.history[progress.history.length - 1];
  progress.imagesDownloaded = totalOf(progress.history, 'downloaded');
  progress.imagesKept = totalOf(progress.history, 'kept');
  if (last) {
    progress.meanReward = last.meanReward;
    progress.topConcepts = last.topConcepts;
    progress.evaluation =
      last.evaluation ??
      (last.knnAccuracy === null ? null : { knnAccuracy: last.knnAccuracy, linearProbeAccuracy: null });
  }
}
