// The run's message handlers: its queries, the stage signal of its iterations, and the validated updates
// that steer it. Each accepted control is recorded (idempotently, keyed by its update id) before it returns.
import { currentUpdateInfo, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities';
import {
  DISTRIBUTION_TOP,
  IO_QUEUE,
  addConceptsUpdate,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  retryIterationUpdate,
  setTemperatureUpdate,
  stageSignal,
  stopUpdate,
  topConceptsQuery,
  type ControlKind,
  type ControlResult,
} from '../lib/contract';
import {
  validateConcepts,
  validatePause,
  validateResume,
  validateRetry,
  validateStop,
  validateTemperature,
} from './controls';
import type { RunState } from './run-state';

const record = proxyActivities<typeof activities>({
  taskQueue: IO_QUEUE,
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
  summary: 'record a control or a failure in the database',
});

/** What the handlers ask of the run beyond its state. */
export interface RunHooks {
  /** A retry of the failed iteration was accepted. */
  retryRequested(): void;
}

/** The iteration a control sent now can still affect: the next one when one is in progress. */
export function nextIterationToStart(state: RunState): number {
  const p = state.progress;
  return p.status === 'running' || p.status === 'waiting-retry' ? p.iteration + 1 : p.iteration;
}

/** Sets every query, signal and update handler of the run on `state`. */
export function setRunHandlers(state: RunState, hooks: RunHooks): void {
  const runId = state.progress.runId;
  const current = () => state.controlState();
  const accepted = async (kind: ControlKind, payload: object, message: string): Promise<ControlResult> => {
    state.publish();
    const requestId = `${runId}/${workflowInfo().runId}/${currentUpdateInfo()?.id ?? kind}`;
    await record.recordControl({ runId, kind, payload, iteration: state.progress.iteration, requestId });
    log.info('control accepted', { runId, kind, payload });
    return { kind, accepted: true, iteration: state.progress.iteration, message };
  };

  setHandler(progressQuery, () => state.progress);
  setHandler(topConceptsQuery, (n = 10) =>
    state.distributionTop.slice(0, Math.max(0, Math.min(Math.floor(Number(n) || 0), DISTRIBUTION_TOP))),
  );
  setHandler(stageSignal, (update) => {
    if (update.iteration !== state.progress.iteration || state.progress.status !== 'running') return;
    state.stageChanged(update.stage, update.downloaded, update.kept, update.waitingFor);
  });

  setHandler(
    pauseUpdate,
    async () => {
      state.controls.paused = true;
      return accepted('pause', {}, `the run pauses before iteration ${nextIterationToStart(state)}`);
    },
    { validator: () => validatePause(current()) },
  );
  setHandler(
    resumeUpdate,
    async () => {
      state.controls.paused = false;
      return accepted('resume', {}, 'the run resumes');
    },
    { validator: () => validateResume(current()) },
  );
  setHandler(
    stopUpdate,
    async () => {
      state.controls.stopRequested = true;
      const message = state.progress.failed
        ? 'the run ends without retrying'
        : 'the run stops after the iteration in progress';
      return accepted('stop', {}, message);
    },
    { validator: () => validateStop(current()) },
  );
  setHandler(
    setTemperatureUpdate,
    async (arg) => {
      const temperature = validateTemperature(current(), arg);
      const fromIteration = nextIterationToStart(state);
      state.controls.temperature = temperature;
      return accepted(
        'temperature',
        { temperature, fromIteration },
        `temperature ${temperature} applies from the update stage of iteration ${fromIteration}`,
      );
    },
    { validator: (arg) => void validateTemperature(current(), arg) },
  );
  setHandler(
    addConceptsUpdate,
    async (arg) => {
      const names = validateConcepts(current(), arg);
      state.controls.addedConcepts += names.length;
      const result = await accepted('addConcepts', { names }, `${names.length} concepts added`);
      // The run's concepts live in the database: sampling and the GP read them from there.
      const added = await record.addRunConcepts({ runId, names, source: 'user' });
      return {
        ...result,
        message: `${added.added} concepts added to the run (${added.existing} were already in it)`,
      };
    },
    { validator: (arg) => void validateConcepts(current(), arg) },
  );
  setHandler(
    retryIterationUpdate,
    async (arg) => {
      const iteration = validateRetry(current(), arg);
      hooks.retryRequested();
      return accepted('retryIteration', { iteration }, `iteration ${iteration} runs again`);
    },
    { validator: (arg) => void validateRetry(current(), arg) },
  );
}
