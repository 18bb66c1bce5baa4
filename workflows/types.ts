// Shapes that cross Temporal: small, JSON-serialisable, never image lists or tensors.

export interface StageRef {
  runId: string;
  iteration: number;
}

export interface TopConcept {
  concept: string;
  probability: number;
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
  evaluation: { knnAccuracy: number | null } | null;
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
