// The workflows a client can start, by registered name and signature. `workflows/` implements them (a
// unit test checks each name is exported there); clients start them through these, typed, without
// importing workflow code. (Workflow code imports this file.)
import type { IterationInput, IterationSummary, Progress, RunInput } from './types';

/** One exploration run: prepare, then one child execution per iteration, continuing as new after each. */
export const RUN_WORKFLOW = 'explorationRun';
export type ExplorationRunWorkflow = (input: RunInput) => Promise<Progress>;

/** One iteration: sample → search → download → train → score → update → evaluate. */
export const ITERATION_WORKFLOW = 'explorationIteration';
export type ExplorationIterationWorkflow = (input: IterationInput) => Promise<IterationSummary>;

/** Workflow id of one iteration's execution: it names the run and the iteration. */
export function iterationWorkflowId(runId: string, iteration: number): string {
  return `${runId}-iter-${String(iteration).padStart(3, '0')}`;
}
