// The workflows a worker registers, under the names lib/contract/workflows.ts gives clients.
export { explorationRun } from './run';
export { explorationIteration } from './iteration';
