// The run's messages: its queries, the signal iterations send it, and the updates that steer it. Workflows
// set handlers on these definitions and every client (CLI, benchmark, tests) sends through them, so a
// renamed message is a compile error, never a run-time one. (Workflow code imports this file.)
import type { UpdateDefinition } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ControlResult, Progress, StageUpdate, TopConcept } from './types';

export const progressQuery = defineQuery<Progress>('progress');
/** The top `n` (default 10, at most DISTRIBUTION_TOP) of the current concept distribution. */
export const topConceptsQuery = defineQuery<TopConcept[], [number?]>('topConcepts');
/** Sent by an iteration's execution to its run at each stage change. */
export const stageSignal = defineSignal<[StageUpdate]>('iterationStage');

export const pauseUpdate = defineUpdate<ControlResult>('pause');
export const resumeUpdate = defineUpdate<ControlResult>('resume');
export const stopUpdate = defineUpdate<ControlResult>('stopAfterIteration');
export const setTemperatureUpdate = defineUpdate<ControlResult, [{ temperature: number }]>('setTemperature');
export const addConceptsUpdate = defineUpdate<ControlResult, [{ names: string[] }]>('addConcepts');
export const retryIterationUpdate = defineUpdate<ControlResult, [{ iteration: number }]>('retryIteration');

/** The update that carries each kind of control, with the argument it takes. */
export const CONTROL_UPDATES = {
  pause: pauseUpdate,
  resume: resumeUpdate,
  stop: stopUpdate,
  temperature: setTemperatureUpdate,
  addConcepts: addConceptsUpdate,
  retryIteration: retryIterationUpdate,
} as const;

export type ControlKind = keyof typeof CONTROL_UPDATES;
export const CONTROL_KINDS = Object.keys(CONTROL_UPDATES) as ControlKind[];

/** The argument of the update that carries `kind` (none for pause, resume and stop). */
export type ControlPayload<K extends ControlKind> =
  (typeof CONTROL_UPDATES)[K] extends UpdateDefinition<ControlResult, infer A>
    ? A extends [infer P]
      ? P
      : undefined
    : never;
