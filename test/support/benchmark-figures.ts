import type { IterationFigures } from '../../bench/learning/figures';

/** One iteration's benchmark figures for tests of the benchmark's report and diagnostics; `over` replaces any. */
export function iterationFigures(i: number, over: Partial<IterationFigures> = {}): IterationFigures {
  return {
    iteration: i,
    queries: 64,
    downloaded: 100,
    relevant: 10,
    unlabelled: 0,
    precision: 0.1,
    knnAccuracy: 0.3,
    linearProbeAccuracy: null,
    meanReward: 0.5,
    bestConcepts: ['dog', 'tabby, cat'],
    wallMs: 61_500,
    rewardAuc: 0.7,
    nearQueries: 0.25,
    mostLikely: ['toy spaniel', 'beagle'],
    nearMostLikely: 0.5,
    gpRankCorrelation: 0.3,
    ...over,
  };
}
