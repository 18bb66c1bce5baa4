// Shapes that cross Temporal: small, JSON-serialisable, never image lists or tensors.

export interface StageRef {
  runId: string;
  iteration: number;
}

/** How many of the current distribution's top concepts the update stage returns and the run keeps. */
export const DISTRIBUTION_TOP = 50;

export interface TopConcept {
  concept: string;
  probability: number;
}

/** Figures of an encoder on the labelled target (null where the target has no labels). */
export interface EncoderEvaluation {
  /** Cosine kNN accuracy (k = 20) of the test split against the training split of the labelled target. */
  knnAccuracy: number | null;
  /** Logistic regression on frozen features, reported on the target's fixed test split. */
  linearProbeAccuracy: number | null;
}

/** What the evaluate stage returns: the iteration's encoder, and at iteration 0 also the starting one. */
export interface IterationEvaluation extends EncoderEvaluation {
  base?: EncoderEvaluation;
}

export interface IterationSummary {
  iteration: number;
  queries: number;
  results: number;
  downloaded: number;
  failed: number;
  /** Download outcomes per URL, counted by reason (ok, duplicate, timeout, not_an_image, blocked_address, …). */
  outcomes: Record<string, number>;
  /** Downloads excluded as near-duplicates of target images. */
  excluded: number;
  kept: number;
  meanReward: number | null;
  trainSteps: number;
  trainLoss: number | null;
  temperature: number | null;
  topConcepts: TopConcept[];
  knnAccuracy: number | null;
  evaluation: IterationEvaluation | null;
  stageMs: Record<string, number>;
  wallMs: number;
}

/** A run's status: its `IeStatus` search attribute, `progress.status` and `Run.status` in PostgreSQL. */
export const RUN_STATUSES = [
  'preparing',
  'running',
  'paused',
  'waiting-retry',
  'completed',
  'stopped',
  'failed',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Statuses of a run that has ended. */
export const ENDED_RUN_STATUSES: readonly RunStatus[] = ['completed', 'stopped', 'failed'];

/** Controls accepted so far; carried across Continue-As-New. */
export interface RunControls {
  /** Wait before starting the next iteration. */
  paused: boolean;
  /** End the run once the iteration in progress has finished. */
  stopRequested: boolean;
  /** The latest temperature set by hand (the update stage reads it from the database), or null. */
  temperature: number | null;
  /** Concepts added by hand so far. */
  addedConcepts: number;
}

/** An iteration whose execution failed; the run waits for `retryIteration` (or a stop). */
export interface FailedIteration {
  iteration: number;
  error: string;
  /** How many executions of this iteration have failed. */
  failures: number;
}

/**
 * How many finished iterations' summaries the run keeps (in `progress.history`, its details and what
 * Continue-As-New carries); every iteration's figures are in PostgreSQL (`ie report`, `Iteration` rows).
 */
export const RECENT_ITERATIONS = 10;

/** What the `progress` query returns. Its size is bounded however long the run is. */
export interface Progress {
  runId: string;
  status: RunStatus;
  /** The iteration in progress (0-based), or the last one once the run has ended. */
  iteration: number;
  iterations: number;
  stage: string;
  /** Iterations finished so far. */
  iterationsDone: number;
  imagesDownloaded: number;
  imagesKept: number;
  meanReward: number | null;
  /** Best kNN accuracy on the target over every finished iteration (labelled targets), or null. */
  bestKnn?: number | null;
  topConcepts: TopConcept[];
  evaluation: IterationEvaluation | null;
  /** The last RECENT_ITERATIONS finished iterations, oldest first. */
  history: IterationSummary[];
  controls: RunControls;
  failed: FailedIteration | null;
  /** Why the run failed before its first iteration (bad config or target), once status is 'failed'. */
  error?: string;
  /** The stage in progress waits for a worker: none polls its queue (also shown in the run's details). */
  waitingFor?: WaitingForWorker | null;
}

/** Figures over every finished iteration of a run, carried across Continue-As-New. */
export interface RunTotals {
  iterationsDone: number;
  imagesDownloaded: number;
  imagesKept: number;
  bestKnn: number | null;
}

/** Input of a run: a run config (see lib/config.ts); `resume` is set by Continue-As-New only. */
export interface RunInput {
  [key: string]: unknown;
  resume?: RunCarry;
}

export interface RunCarry {
  nextIteration: number;
  iterations: number;
  hasLabels: boolean;
  /** `download.shards` of the run's config (absent in runs started before shards: 1). */
  downloadShards?: number;
  /** The last RECENT_ITERATIONS summaries. */
  recent?: IterationSummary[];
  totals?: RunTotals;
  /** Every summary so far: what executions carried before `recent` and `totals` (read on resume only). */
  history?: IterationSummary[];
  /** Target folder name and mode, for search attributes and details (absent in runs started before them). */
  target?: string;
  mode?: string;
  controls?: RunControls;
  /** Top of the current concept distribution (what the `topConcepts` query answers). */
  distributionTop?: TopConcept[];
}

/** What a control update returns once accepted and recorded. */
export interface ControlResult {
  kind: string;
  accepted: true;
  /** The iteration in progress when it arrived. */
  iteration: number;
  message: string;
}

export interface IterationInput extends StageRef {
  parentWorkflowId: string;
  hasLabels: boolean;
  /** Download shard activities (`download.shards`); absent (runs started before shards) or 1: none. */
  downloadShards?: number;
}

/** One of an iteration's download shards. */
export interface DownloadShardRef extends StageRef {
  shard: number;
  shards: number;
}

/** The download stage's closing pass; after shards, with when the stage started (for its timing). */
export interface DownloadRef extends StageRef {
  startedAtMs?: number;
}

export interface StageUpdate {
  iteration: number;
  stage: string;
  downloaded?: number;
  kept?: number;
  /** Set while the stage's activity waits on a queue no worker polls; absent (or null) once one does. */
  waitingFor?: WaitingForWorker | null;
}

/** A stage whose activity has not started and whose task queue no worker polls. */
export interface WaitingForWorker {
  stage: string;
  queue: string;
  /** The `ie worker` role that polls the queue. */
  role: string;
  /** When the stage was scheduled (epoch ms, workflow time). */
  sinceMs: number;
}
