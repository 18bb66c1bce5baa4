import { getExternalWorkflowHandle, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type * as activities from '../activities';
import {
  DOWNLOAD_QUEUE,
  IO_QUEUE,
  SCORE_QUEUE,
  TRAIN_QUEUE,
  stageSignal,
  type ExplorationIterationWorkflow,
  type IterationEvaluation,
  type IterationInput,
  type IterationSummary,
  type Stage,
} from '../lib/contract';

const retry = {
  maximumAttempts: 5,
  nonRetryableErrorTypes: ['ConfigError', 'TargetError', 'TrainerError', 'DiskFullError'],
};

const ioOptions: ActivityOptions = {
  taskQueue: IO_QUEUE,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry,
};

const downloadOptions: ActivityOptions = { ...ioOptions, taskQueue: DOWNLOAD_QUEUE };

const scoreOptions: ActivityOptions = {
  taskQueue: SCORE_QUEUE,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry,
};

// Training is long: it heartbeats every few seconds, so a dead worker is noticed within the heartbeat
// timeout and the retry resumes from the last checkpoint.
const trainOptions: ActivityOptions = {
  taskQueue: TRAIN_QUEUE,
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry,
};

/** Activities whose calls carry a one-line summary, shown on each activity in the Web UI. */
const summarised = (options: ActivityOptions, summary: string) =>
  proxyActivities<typeof activities>({ ...options, summary });

/**
 * One iteration: sample → search → download → train → score → update → evaluate. Decides only; no I/O.
 * Its `topConcepts` are the top of the updated distribution (the run keeps them for its `topConcepts` query).
 */
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

  const it = `iteration ${input.iteration}`;
  await stage('sample');
  const sampled = await summarised(ioOptions, `${it}: sample concepts from p(c)`).sampleQueries(ref);
  await stage('search');
  const searched = await summarised(ioOptions, `${it}: search ${sampled.queries} queries`).searchQueries(ref);
  await stage('download');
  // Shards (on their own queue: any io worker takes one at a time), then a closing pass that fetches what
  // they left retryable and links the images; without shards the closing pass fetches everything.
  const shards = input.downloadShards ?? 1;
  const downloadStartedAtMs = Date.now();
  if (shards > 1)
    await Promise.all(
      Array.from({ length: shards }, (_, shard) =>
        summarised(
          downloadOptions,
          `${it}: download shard ${shard + 1} of ${shards} (${sampled.queries} queries' results)`,
        ).downloadShard({ ...ref, shard, shards }),
      ),
    );
  const downloaded = await summarised(
    ioOptions,
    `${it}: download the results of ${sampled.queries} queries`,
  ).downloadCandidates(shards > 1 ? { ...ref, startedAtMs: downloadStartedAtMs } : ref);
  await stage('train', { downloaded: downloaded.downloaded });
  const trained = await summarised(
    trainOptions,
    `${it}: train the encoder on the target, ${downloaded.downloaded} new images and the replay buffer`,
  ).trainEncoder(ref);
  await stage('score', { downloaded: downloaded.downloaded });
  const scored = await summarised(scoreOptions, `${it}: score the candidates against the target`).scoreCandidates(ref);
  await stage('update', { downloaded: downloaded.downloaded, kept: scored.admitted });
  const updated = await summarised(ioOptions, `${it}: fit the GP on concept rewards, update p(c)`).updateDistribution(
    ref,
  );
  let evaluation: IterationEvaluation | null = null;
  if (input.hasLabels) {
    await stage('evaluate', { downloaded: downloaded.downloaded, kept: scored.admitted });
    evaluation = await summarised(scoreOptions, `${it}: evaluate the encoder (kNN, linear probe)`).evaluateEncoder(ref);
  }
  const finished = await summarised(ioOptions, `${it}: record stage timings`).finishIteration({
    ...ref,
    wallMs: Date.now() - started,
  });
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

// The workflow registered under ITERATION_WORKFLOW has the contract's signature.
explorationIteration satisfies ExplorationIterationWorkflow;
