import { getExternalWorkflowHandle, proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import { IO_QUEUE, SCORE_QUEUE, TRAIN_QUEUE, type Stage } from '../lib/queues';
import type { IterationEvaluation, IterationInput, IterationSummary } from './types';
import { stageSignal } from './run';

const retry = { maximumAttempts: 5, nonRetryableErrorTypes: ['ConfigError', 'TargetError', 'TrainerError'] };

const io = proxyActivities<typeof activities>({
  taskQueue: IO_QUEUE,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry,
});

const score = proxyActivities<typeof activities>({
  taskQueue: SCORE_QUEUE,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry,
});

// Training is long: it heartbeats every few seconds, so a dead worker is noticed within the heartbeat
// timeout and the retry resumes from the last checkpoint.
const train = proxyActivities<typeof activities>({
  taskQueue: TRAIN_QUEUE,
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry,
});

/** One iteration: sample → search → download → train → score → update → evaluate. Decides only; no I/O. */
export async function explorationIteration(input: IterationInput): Promise<IterationSummary> {
  const ref = { runId: input.runId, iteration: input.iteration };
  const parent = getExternalWorkflowHandle(input.parentWorkflowId);
  const started = Date.now();
  const stage = async (name: Stage, extra: { downloaded?: number; kept?: number } = {}) => {
    try {
      await parent.signal(stageSignal, { iteration: input.iteration, stage: name, ...extra });
    } catch {
      // The parent may be between runs (Continue-As-New) or gone; progress is advisory.
    }
  };

  await stage('sample');
  const sampled = await io.sampleQueries(ref);
  await stage('search');
  const searched = await io.searchQueries(ref);
  await stage('download');
  const downloaded = await io.downloadCandidates(ref);
  await stage('train', { downloaded: downloaded.downloaded });
  const trained = await train.trainEncoder(ref);
  await stage('score', { downloaded: downloaded.downloaded });
  const scored = await score.scoreCandidates(ref);
  await stage('update', { downloaded: downloaded.downloaded, kept: scored.admitted });
  const updated = await io.updateDistribution(ref);
  let evaluation: IterationEvaluation | null = null;
  if (input.hasLabels) {
    await stage('evaluate', { downloaded: downloaded.downloaded, kept: scored.admitted });
    evaluation = await score.evaluateEncoder(ref);
  }
  const finished = await io.finishIteration({ ...ref, wallMs: Date.now() - started });
  await stage('done', { downloaded: downloaded.downloaded, kept: scored.admitted });

  return {
    iteration: input.iteration,
    queries: sampled.queries,
    results: searched.results,
    downloaded: downloaded.downloaded,
    failed: downloaded.failed,
    outcomes: downloaded.reasons,
    excluded: downloaded.excluded,
    kept: scored.admitted,
    meanReward: scored.meanReward,
    trainSteps: trained.steps,
    trainLoss: trained.loss,
    temperature: updated.temperature,
    topConcepts: updated.topConcepts,
    knnAccuracy: evaluation?.knnAccuracy ?? null,
    evaluation,
    stageMs: finished.stageMs,
    wallMs: Date.now() - started,
  };
}
