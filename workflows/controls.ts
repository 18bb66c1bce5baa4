// Validation of the controls a run accepts (pause, resume, stop, temperature, concepts, retry). Pure
// functions: the run's update validators call them, so a rejected control never enters the history.
import { ENDED_RUN_STATUSES, type FailedIteration, type RunControls, type RunStatus } from '../lib/contract';

export const MAX_CONCEPTS_PER_UPDATE = 50;
export const MAX_CONCEPT_LENGTH = 100;

export interface ControlState {
  status: RunStatus;
  controls: RunControls;
  failed: FailedIteration | null;
}

/** Thrown by a validator; the message is what the sender sees. */
export class ControlRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlRejected';
  }
}

function requireActive(state: ControlState, what: string): void {
  if (ENDED_RUN_STATUSES.includes(state.status))
    throw new ControlRejected(`cannot ${what}: the run has already ${state.status}`);
}

export function validatePause(state: ControlState): void {
  requireActive(state, 'pause');
  if (state.controls.paused) throw new ControlRejected('cannot pause: the run is already paused (resume it instead)');
  if (state.controls.stopRequested)
    throw new ControlRejected('cannot pause: the run stops after the current iteration');
}

export function validateResume(state: ControlState): void {
  requireActive(state, 'resume');
  if (!state.controls.paused) throw new ControlRejected(`cannot resume: the run is not paused (it is ${state.status})`);
}

export function validateStop(state: ControlState): void {
  requireActive(state, 'stop');
  if (state.controls.stopRequested) throw new ControlRejected('cannot stop: a stop was already requested');
}

export function validateTemperature(state: ControlState, input: unknown): number {
  requireActive(state, 'change the temperature');
  const t = (input as { temperature?: unknown } | null)?.temperature;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0)
    throw new ControlRejected(
      `temperature must be a finite number > 0 (got ${JSON.stringify(t)}); e.g. {"temperature": 0.5}`,
    );
  return t;
}

export function validateConcepts(state: ControlState, input: unknown): string[] {
  requireActive(state, 'add concepts');
  const names = (input as { names?: unknown } | null)?.names;
  if (!Array.isArray(names) || names.length === 0)
    throw new ControlRejected('names must be a non-empty list of concept names, e.g. {"names": ["tabby cat"]}');
  if (names.length > MAX_CONCEPTS_PER_UPDATE)
    throw new ControlRejected(`at most ${MAX_CONCEPTS_PER_UPDATE} concepts per update (got ${names.length})`);
  const cleaned: string[] = [];
  for (const [i, name] of names.entries()) {
    if (typeof name !== 'string' || name.trim() === '')
      throw new ControlRejected(`names[${i}] must be a non-empty string (got ${JSON.stringify(name)})`);
    const trimmed = name.trim().replace(/\s+/g, ' ');
    if (trimmed.length > MAX_CONCEPT_LENGTH)
      throw new ControlRejected(`names[${i}] is ${trimmed.length} characters long; at most ${MAX_CONCEPT_LENGTH}`);
    if (cleaned.some((c) => c.toLowerCase() === trimmed.toLowerCase()))
      throw new ControlRejected(`names[${i}] "${trimmed}" appears twice`);
    cleaned.push(trimmed);
  }
  if (state.status === 'preparing')
    throw new ControlRejected('cannot add concepts yet: the run is still being prepared; try again in a moment');
  return cleaned;
}

export function validateRetry(state: ControlState, input: unknown): number {
  const iteration = (input as { iteration?: unknown } | null)?.iteration;
  if (typeof iteration !== 'number' || !Number.isInteger(iteration) || iteration < 0)
    throw new ControlRejected(
      `iteration must be a non-negative integer (got ${JSON.stringify(iteration)}); e.g. {"iteration": 1}`,
    );
  if (!state.failed)
    throw new ControlRejected(
      `cannot retry iteration ${iteration}: no iteration has failed (the run is ${state.status})`,
    );
  if (state.failed.iteration !== iteration)
    throw new ControlRejected(`cannot retry iteration ${iteration}: the failed iteration is ${state.failed.iteration}`);
  return iteration;
}
