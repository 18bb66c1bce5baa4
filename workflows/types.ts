// Shapes that cross Temporal: small, JSON-serialisable, never image lists or tensors.

export interface StageRef {
  runId: string;
  iteration: number;
}

export interface TopConcept {
  concept: string;
  probability: number;
}

/** Figures of an encoder on the labelled target (null where the target has no labels). */
export interface EncoderEvaluation {
  /** Leave-one-out cosine kNN accuracy. */
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

/** What the `progress` query returns. */
export interface Progress {
  runId: string;
  status: 'preparing' | 'running' | 'completed' | 'failed';
  iteration: number;
  iterations: number;
  stage: string;
  imagesDownloaded: number;
  imagesKept: number;
  meanReward: number | null;
  topConcepts: TopConcept[];
  evaluation: IterationEvaluation | null;
  history: IterationSummary[];
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
  history: IterationSummary[];
}

export interface IterationInput extends StageRef {
  parentWorkflowId: string;
  hasLabels: boolean;
}

export interface StageUpdate {
  iteration: number;
  stage: string;
  downloaded?: number;
  kept?: number;
}
