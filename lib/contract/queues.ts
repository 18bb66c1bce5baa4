// Task queues. Workflows run on one; activities are split by the resource they need, so training can run
// on a GPU worker while search/download run on I/O workers and scoring on CPU workers.
// (No Node built-ins here: workflow code imports this file.)
export const WORKFLOW_QUEUE = 'internet-explorer';
export const IO_QUEUE = 'ie-io';
export const SCORE_QUEUE = 'ie-score';
export const TRAIN_QUEUE = 'ie-train';
/** Download shards: polled by io workers, one shard at a time per worker, so each host adds its fetch slots. */
export const DOWNLOAD_QUEUE = 'ie-download';

export const STAGES = ['prepare', 'sample', 'search', 'download', 'train', 'score', 'update', 'evaluate'] as const;
export type Stage = (typeof STAGES)[number] | 'done';

/** The task queue each stage's activity waits on, and the worker role that polls it. */
export const STAGE_QUEUES: Record<(typeof STAGES)[number], { queue: string; role: string }> = {
  prepare: { queue: IO_QUEUE, role: 'io' },
  sample: { queue: IO_QUEUE, role: 'io' },
  search: { queue: IO_QUEUE, role: 'io' },
  download: { queue: IO_QUEUE, role: 'io' },
  train: { queue: TRAIN_QUEUE, role: 'train' },
  score: { queue: SCORE_QUEUE, role: 'score' },
  update: { queue: IO_QUEUE, role: 'io' },
  evaluate: { queue: SCORE_QUEUE, role: 'score' },
};

/** What to tell a user about a queue no worker polls: what waits, and the command that starts a worker. */
export function noWorkerMessage(m: { queue: string; role: string; stage?: string }): string {
  return (
    `no worker polls ${m.queue}, so ${m.stage ? `the ${m.stage} stage` : "the run's workflow"} waits: ` +
    `start one with \`ie worker ${m.role}\`${m.role === 'train' ? ' on a host that can train (a GPU host)' : ''}`
  );
}
