import {
  condition,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import type * as workerWatch from '../activities/worker-watch';
import {
  DOWNLOAD_QUEUE,
  IO_QUEUE,
  SCORE_QUEUE,
  STAGE_QUEUES,
  STAGES,
  TRAIN_QUEUE,
  stageSignal,
  type ExplorationIterationWorkflow,
  type IterationEvaluation,
  type IterationInput,
  type IterationSummary,
  type Stage,
  type WaitingForWorker,
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

// Whether a stage that has waited a while has a worker: checked by the workflow worker itself (a local
// activity), which is there whenever this code runs. A failed check changes nothing.
const { stageWorkerCheck } = proxyLocalActivities<typeof workerWatch>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 2 },
});

/** The patch that added the worker watch (executions started before it replay without it). */
const WORKER_WATCH = 'worker-watch';
/** The first check comes this long after a stage's activity is scheduled; each later one twice as late. */
const FIRST_WATCH_MS = 60_000;
const LAST_WATCH_MS = 30 * 60_000;

/**
 * Awaits a stage's activity; while it has not started, checks now and then whether any worker polls its queue
 * and tells the run (`report`) when none does, and when one does again. Stops checking once the activity
 * starts: a stage costs at most a few checks however long it runs.
 */
async function watched<T>(
  call: Promise<T>,
  waiting: Omit<WaitingForWorker, 'sinceMs'> & { activityType: string },
  report: (waitingFor: WaitingForWorker | null) => Promise<void>,
): Promise<T> {
  if (!patched(WORKER_WATCH)) return call;
  let settled = false;
  const done = call.finally(() => {
    settled = true;
  });
  const sinceMs = Date.now();
  const { activityType, ...where } = waiting;
  let warned = false;
  for (let waitMs = FIRST_WATCH_MS; !(await condition(() => settled, waitMs));) {
    waitMs = Math.min(waitMs * 2, LAST_WATCH_MS);
    let check: { started: boolean; polled: boolean };
    try {
      const { workflowId, runId } = workflowInfo();
      check = await stageWorkerCheck({ workflowId, runId, activityType, queue: where.queue });
    } catch {
      continue;
    }
    if (check.started) break;
    if (check.polled === warned) {
      warned = !check.polled;
      await report(warned ? { ...where, sinceMs } : null);
    }
  }
  if (warned && !settled) await report(null);
  return done;
}

/**
 * One iteration: sample → search → download → train → score → update → evaluate. Decides only; no I/O.
 * Its `topConcepts` are the top of the updated distribution (the run keeps them for its `topConcepts` query).
 */
export async function explorationIteration(input: IterationInput): Promise<IterationSummary> {
  const ref = { runId: input.runId, iteration: input.iteration };
  const parent = getExternalWorkflowHandle(input.parentWorkflowId);
  const started = Date.now();
  let counts: { downloaded?: number; kept?: number } = {};
  const stage = async (
    name: Stage,
    extra: { downloaded?: number; kept?: number } = {},
    waitingFor: WaitingForWorker | null = null,
  ) => {
    counts = { ...counts, ...extra };
    try {
      await parent.signal(stageSignal, { iteration: input.iteration, stage: name, ...counts, waitingFor });
    } catch {
      // The parent may be between runs (Continue-As-New) or gone; progress is advisory.
    }
  };
  /** A stage's activity, watched for a missing worker on its queue (by default the stage's own). */
  const watch = <T>(
    name: (typeof STAGES)[number],
    activityType: string,
    call: Promise<T>,
    where: { queue: string; role: string } = STAGE_QUEUES[name],
  ) => watched(call, { stage: name, ...where, activityType }, (waitingFor) => stage(name, {}, waitingFor));

  const it = `iteration ${input.iteration}`;
  await stage('sample');
  const sampled = await watch(
    'sample',
    'sampleQueries',
    summarised(ioOptions, `${it}: sample concepts from p(c)`).sampleQueries(ref),
  );
  await stage('search');
  const searched = await watch(
    'search',
    'searchQueries',
    summarised(ioOptions, `${it}: search ${sampled.queries} queries`).searchQueries(ref),
  );
  await stage('download');
  // Shards (on their own queue: any io worker takes one at a time), then a closing pass that fetches what
  // they left retryable and links the images; without shards the closing pass fetches everything.
  const shards = input.downloadShards ?? 1;
  const downloadStartedAtMs = Date.now();
  if (shards > 1)
    await watch(
      'download',
      'downloadShard',
      Promise.all(
        Array.from({ length: shards }, (_, shard) =>
          summarised(
            downloadOptions,
            `${it}: download shard ${shard + 1} of ${shards} (${sampled.queries} queries' results)`,
          ).downloadShard({ ...ref, shard, shards }),
        ),
      ),
      { queue: DOWNLOAD_QUEUE, role: 'io' },
    );
  const downloaded = await watch(
    'download',
    'downloadCandidates',
    summarised(ioOptions, `${it}: download the results of ${sampled.queries} queries`).downloadCandidates(
      shards > 1 ? { ...ref, startedAtMs: downloadStartedAtMs } : ref,
    ),
  );
  await stage('train', { downloaded: downloaded.downloaded });
  const trained = await watch(
    'train',
    'trainEncoder',
    summarised(
      trainOptions,
      `${it}: train the encoder on the target, ${downloaded.downloaded} new images and the replay buffer`,
    ).trainEncoder(ref),
  );
  await stage('score', { downloaded: downloaded.downloaded });
  const scored = await watch(
    'score',
    'scoreCandidates',
    summarised(scoreOptions, `${it}: score the candidates against the target`).scoreCandidates(ref),
  );
  await stage('update', { downloaded: downloaded.downloaded, kept: scored.admitted });
  const updated = await watch(
    'update',
    'updateDistribution',
    summarised(ioOptions, `${it}: fit the GP on concept rewards, update p(c)`).updateDistribution(ref),
  );
  let evaluation: IterationEvaluation | null = null;
  if (input.hasLabels) {
    await stage('evaluate', { downloaded: downloaded.downloaded, kept: scored.admitted });
    evaluation = await watch(
      'evaluate',
      'evaluateEncoder',
      summarised(scoreOptions, `${it}: evaluate the encoder (kNN, linear probe)`).evaluateEncoder(ref),
    );
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
