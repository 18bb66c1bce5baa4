// Every activity the workers register. Each is idempotent: its writes are upserts on natural keys.
export { prepareRun, finishRun, finishIteration } from './stages/run';
export { sampleQueries } from './stages/sample';
export { searchQueries } from './stages/search';
export { downloadCandidates, downloadShard } from './stages/download';
export { trainEncoder } from './stages/train';
export { scoreCandidates } from './stages/score';
export { updateDistribution } from './stages/update';
export { evaluateEncoder } from './stages/evaluate';
export { addRunConcepts } from './concepts/run-concepts';
export { recordControl, recordIterationFailure, markIterationRetried, setRunStatus } from './run-records';
