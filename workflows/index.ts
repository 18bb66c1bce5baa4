// The workflows a worker registers.
export { explorationRun, progressQuery, stageSignal } from './run';
export { explorationIteration } from './iteration';
