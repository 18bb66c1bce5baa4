import {
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type * as activities from '../activities';
import { IO_QUEUE, ITERATION_WORKFLOW, iterationWorkflowId } from '../lib/queues';
import {
  validateConcepts,
  validatePause,
  validateResume,
  validateRetry,
  validateStop,
  validateTemperature,
  type ControlKind,
} from './controls';
import { iterationStaticDetails, iterationSummaryLine, runDetails } from './details';
import { RUN_SEARCH_ATTRIBUTES as SA } from './search-attributes';
import {
  DISTRIBUTION_TOP,
  type ControlResult,
  type FailedIteration,
  type IterationSummary,
  type Progress,
  type RunCarry,
  type RunControls,
  type RunInput,
  type StageUpdate,
  type TopConcept,
} from './types';

export const progressQuery = defineQuery<Progress>('progress');
export const topConceptsQuery = defineQuery<TopConcept[], [number?]>('topConcepts');
export const stageSignal = defineSignal<[StageUpdate]>('iterationStage');

export const pauseUpdate = defineUpdate<ControlResult>('pause');
export const resumeUpdate = defineUpdate<ControlResult>('resume');
export const stopUpdate = defineUpdate<ControlResult>('stopAfterIteration');
export const setTemperatureUpdate = defineUpdate<ControlResult, [{ temperature: number }]>('setTemperature');
export const addConceptsUpdate = defineUpdate<ControlResult, [{ names: string[] }]>('addConcepts');
export const retryIterationUpdate = defineUpdate<ControlResult, [{ iteration: number }]>('retryIteration');

const io = proxyActivities<typeof activities>({
  taskQueue: IO_QUEUE,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['ConfigError', 'TargetError'] },
});

const record = proxyActivities<typeof activities>({
  taskQueue: IO_QUEUE,
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
  summary: 'record a control or a failure in the database',
});

const NO_CONTROLS: RunControls = { paused: false, stopRequested: false, temperature: null, addedConcepts: 0 };

/**
 * One exploration run. Each iteration is its own child workflow execution (visible in the Web UI as
 * `<run>-iter-NNN`); the run continues as new after every iteration so its history stays small
 * however many iterations it has. Controls (pause, resume, stop, temperature, concepts) arrive as
 * validated updates and are carried across Continue-As-New; a failed iteration makes the run wait for
 * `retryIteration` instead of failing it.
 */
export async function explorationRun(input: RunInput): Promise<Progress> {
  const runId = workflowInfo().workflowId;
  const resume = input.resume;
  const controls: RunControls = { ...NO_CONTROLS, ...resume?.controls };
  let target = resume?.target;
  let mode = resume?.mode;
  let distributionTop: TopConcept[] = resume?.distributionTop ?? [];
  let retryRequested = false;
  const progress: Progress = {
    runId,
    status: resume ? 'running' : 'preparing',
    iteration: resume?.nextIteration ?? 0,
    iterations: resume?.iterations ?? 0,
    stage: 'prepare',
    imagesDownloaded: 0,
    imagesKept: 0,
    meanReward: null,
    topConcepts: [],
    evaluation: null,
    history: resume?.history ?? [],
    controls,
    failed: null,
  };
  refreshTotals(progress);

  // Search attributes are upserted only when they change (each upsert is an event in the history).
  const upserted = new Map<string, unknown>();
  const publish = () => {
    setCurrentDetails(runDetails(progress, target));
    const knns = progress.history.map((h) => h.knnAccuracy).filter((k): k is number => k !== null);
    const wanted: SearchAttributeUpdatePair[] = [
      { key: SA.status, value: progress.status },
      { key: SA.iteration, value: progress.iteration },
      { key: SA.images, value: progress.imagesDownloaded },
    ];
    if (target !== undefined) wanted.push({ key: SA.target, value: target });
    if (mode !== undefined) wanted.push({ key: SA.mode, value: mode });
    if (knns.length) wanted.push({ key: SA.bestKnn, value: Math.max(...knns) });
    const changed = wanted.filter((pair) => upserted.get(pair.key.name) !== pair.value);
    if (changed.length === 0) return;
    for (const pair of changed) upserted.set(pair.key.name, pair.value);
    upsertSearchAttributes(changed);
  };
  const state = () => ({ status: progress.status, controls, failed: progress.failed });

  /** Records an accepted control (idempotently, keyed by its update id) and republishes the details. */
  const accepted = async (kind: ControlKind, payload: object, message: string): Promise<ControlResult> => {
    publish();
    const requestId = `${runId}/${workflowInfo().runId}/${currentUpdateInfo()?.id ?? kind}`;
    await record.recordControl({ runId, kind, payload, iteration: progress.iteration, requestId });
    log.info('control accepted', { runId, kind, payload });
    return { kind, accepted: true, iteration: progress.iteration, message };
  };

  setHandler(progressQuery, () => progress);
  setHandler(topConceptsQuery, (n = 10) =>
    distributionTop.slice(0, Math.max(0, Math.min(Math.floor(Number(n) || 0), DISTRIBUTION_TOP))),
  );
  setHandler(stageSignal, (update) => {
    if (update.iteration !== progress.iteration || progress.status !== 'running') return;
    progress.stage = update.stage;
    if (update.downloaded !== undefined)
      progress.imagesDownloaded = totalOf(progress.history, 'downloaded') + update.downloaded;
    if (update.kept !== undefined) progress.imagesKept = totalOf(progress.history, 'kept') + update.kept;
    publish();
  });
  setHandler(
    pauseUpdate,
    async () => {
      controls.paused = true;
      return accepted('pause', {}, `the run pauses before iteration ${nextIterationToStart(progress) + 1}`);
    },
    { validator: () => validatePause(state()) },
  );
  setHandler(
    resumeUpdate,
    async () => {
      controls.paused = false;
      return accepted('resume', {}, 'the run resumes');
    },
    { validator: () => validateResume(state()) },
  );
  setHandler(
    stopUpdate,
    async () => {
      controls.stopRequested = true;
      return accepted(
        'stop',
        {},
        progress.failed ? 'the run ends without retrying' : 'the run stops after the iteration in progress',
      );
    },
    { validator: () => validateStop(state()) },
  );
  setHandler(
    setTemperatureUpdate,
    async (arg) => {
      const temperature = validateTemperature(state(), arg);
      const fromIteration = nextIterationToStart(progress);
      controls.temperature = temperature;
      return accepted(
        'temperature',
        { temperature, fromIteration },
        `temperature ${temperature} applies from the update stage of iteration ${fromIteration}`,
      );
    },
    { validator: (arg) => void validateTemperature(state(), arg) },
  );
  setHandler(
    addConceptsUpdate,
    async (arg) => {
      const names = validateConcepts(state(), arg);
      controls.addedConcepts += names.length;
      const result = await accepted('addConcepts', { names }, `${names.length} concepts added`);
      // The run's concepts live in the database: sampling and the GP read them from there.
      const added = await record.addRunConcepts({ runId, names, source: 'user' });
      return {
        ...result,
        message: `${added.added} concepts added to the run (${added.existing} were already in it)`,
      };
    },
    { validator: (arg) => void validateConcepts(state(), arg) },
  );
  setHandler(
    retryIterationUpdate,
    async (arg) => {
      const iteration = validateRetry(state(), arg);
      retryRequested = true;
      return accepted('retryIteration', { iteration }, `iteration ${iteration} runs again`);
    },
    { validator: (arg) => void validateRetry(state(), arg) },
  );

  let carry: RunCarry;
  if (resume) {
    carry = resume;
  } else {
    publish();
    const { resume: _resume, ...config } = input;
    const prepared = await io.prepareRun({ runId, config });
    target = prepared.target;
    mode = prepared.mode;
    carry = {
      nextIteration: 0,
      iterations: prepared.iterations,
      hasLabels: prepared.hasLabels,
      history: [],
      target,
      mode,
    };
    progress.iterations = prepared.iterations;
  }

  const iteration = carry.nextIteration;
  progress.iteration = Math.min(iteration, Math.max(carry.iterations - 1, 0));
  if (iteration < carry.iterations && controls.paused) {
    progress.status = 'paused';
    progress.stage = 'paused';
    publish();
    await io.setRunStatus({ runId, status: 'paused' });
    await condition(() => !controls.paused || controls.stopRequested);
    if (!controls.stopRequested) await io.setRunStatus({ runId, status: 'running' });
  }
  if (iteration < carry.iterations && !controls.stopRequested) {
    progress.status = 'running';
    progress.stage = 'sample';
    publish();
    const summary = await runIteration(iteration);
    if (summary) {
      log.info('iteration finished', { runId, iteration, meanReward: summary.meanReward, knn: summary.knnAccuracy });
      distributionTop = summary.topConcepts;
      const history = [...carry.history, { ...summary, topConcepts: summary.topConcepts.slice(0, 10) }];
      progress.history = history;
      refreshTotals(progress);
      if (iteration + 1 < carry.iterations && !controls.stopRequested) {
        progress.stage = 'done';
        publish();
        // Updates still recording their control finish in this run, so none is lost.
        await condition(allHandlersFinished);
        await continueAsNew<typeof explorationRun>({
          ...input,
          resume: { ...carry, nextIteration: iteration + 1, history, controls, distributionTop },
        });
      }
    }
  }

  const status =
    progress.failed !== null ? 'failed' : progress.history.length < carry.iterations ? 'stopped' : 'completed';
  await io.finishRun({ runId, status });
  progress.status = status;
  progress.stage = 'done';
  refreshTotals(progress);
  publish();
  await condition(allHandlersFinished);
  return progress;

  /**
   * Runs one iteration's execution; when it fails, records the failure and waits for a retry (a new
   * execution under the same id, reusing what is stored) or a stop (undefined).
   */
  async function runIteration(i: number): Promise<IterationSummary | undefined> {
    let failures = 0;
    for (;;) {
      try {
        return await executeChild(ITERATION_WORKFLOW, {
          workflowId: iterationWorkflowId(runId, i),
          args: [{ runId, iteration: i, parentWorkflowId: runId, hasLabels: carry.hasLabels }],
          staticSummary: iterationSummaryLine(runId, i, carry.iterations),
          staticDetails: iterationStaticDetails(i, carry.hasLabels),
        });
      } catch (err) {
        failures += 1;
        const failed: FailedIteration = { iteration: i, error: failureMessage(err), failures };
        progress.failed = failed;
        progress.status = 'waiting-retry';
        publish();
        log.warn('iteration failed; waiting for a retry', { runId, iteration: i, failures, error: failed.error });
        await io.recordIterationFailure({ runId, iteration: i, failure: failures, error: failed.error });
        await condition(() => retryRequested || controls.stopRequested);
        if (!retryRequested) return undefined;
        retryRequested = false;
        await io.markIterationRetried({ runId, iteration: i, failure: failures });
        progress.failed = null;
        progress.status = 'running';
        progress.stage = 'sample';
        publish();
      }
    }
  }
}

/** The iteration a control sent now can still affect: the next one when one is in progress. */
function nextIterationToStart(p: Progress): number {
  return p.status === 'running' || p.status === 'waiting-retry' ? p.iteration + 1 : p.iteration;
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
