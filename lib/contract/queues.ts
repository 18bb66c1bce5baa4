// Task queues. Workflows run on one; activities are split by the resource they need, so training can run
// on a GPU worker while search/download run on I/O workers and scoring on CPU workers.
// (No Node built-ins here: workflow code imports this file.)
export const WORKFLOW_QUEUE = 'internet-explorer';
export const IO_QUEUE = 'ie-io';
export const SCORE_QUEUE = 'ie-score';
export const TRAIN_QUEUE = 'ie-train';

export const STAGES = ['prepare', 'sample', 'search', 'download', 'train', 'score', 'update', 'evaluate'] as const;
export type Stage = (typeof STAGES)[number] | 'done';
