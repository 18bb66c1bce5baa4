import { iterationLine } from '../../bench/learning/run';
import type { IterationSummary } from '../../lib/contract';
import { benchmarkCommand } from '../../cli/commands/benchmark';
import { ConfigError } from '../../lib/config';

// Both checks run before any service starts or any base encoder is built, so nothing here needs them.
test('--set keys both arms share are validated by the run config schema before anything starts', async () => {
  const lines: string[] = [];
  const run = benchmarkCommand({ set: ['train.bogus=1'] }, (l) => lines.push(l));
  await expect(run).rejects.toThrow(ConfigError);
  await expect(run).rejects.toThrow(/unknown key 'train\.bogus'.*initCheckpoint/);
  expect(lines).toEqual([]);
});

test('the benchmark refuses --set of the keys it sets itself (mode, target)', async () => {
  await expect(benchmarkCommand({ set: ['mode=random'] }, () => undefined)).rejects.toThrow(
    "the benchmark sets 'mode' itself",
  );
  await expect(benchmarkCommand({ set: ['target=/tmp'] }, () => undefined)).rejects.toThrow(
    "the benchmark sets 'target' itself",
  );
});

describe('the progress line of an iteration', () => {
  const summary = (topConcepts: { concept: string; probability: number }[]): IterationSummary => ({
    iteration: 2,
    queries: 256,
    results: 12800,
    downloaded: 2600,
    failed: 0,
    outcomes: {},
    excluded: 0,
    kept: 2600,
    meanReward: null,
    trainSteps: 50,
    trainLoss: null,
    temperature: null,
    topConcepts,
    knnAccuracy: 0.178,
    evaluation: null,
    stageMs: {},
    wallMs: 65_000,
  });

  test('names the most probable concepts of a learned distribution', () => {
    const line = iterationLine(
      'explore',
      summary([
        { concept: 'toy dog', probability: 0.03 },
        { concept: 'tabby cat', probability: 0.02 },
        { concept: 'guide dog', probability: 0.01 },
        { concept: 'dog sled', probability: 0.005 },
      ]),
    );
    expect(line).toBe('[explore] iteration 2: 2600 images, kNN 17.8%, 65 s; next: toy dog, tabby cat, guide dog');
  });

  test('says a uniform distribution is uniform instead of naming the first concepts in sort order', () => {
    const line = iterationLine(
      'random',
      summary(['.22', "'hood", 'aardvark'].map((concept) => ({ concept, probability: 1 / 40_000 }))),
    );
    expect(line).toMatch(/; next: uniform over 40000 concepts$/);
    expect(line).not.toContain('aardvark');
  });
});
