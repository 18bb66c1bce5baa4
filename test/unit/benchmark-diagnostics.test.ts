import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { iterationDiagnostics, rocAuc, spearman } from '../../bench/learning/diagnostics';
import {
  formatSeedsVerdict,
  readSeedSummaries,
  SeedsMismatchError,
  seedFigures,
  seedsVerdict,
  spread,
} from '../../bench/learning/seeds';
import { compareArms, type BenchmarkSummary } from '../../bench/learning/report';
import type { ArmFigures, IterationFigures } from '../../bench/learning/figures';
import { iterationFigures } from '../support/benchmark-figures';
import { seedList } from '../../cli/commands/benchmark';
import { loadNouns, nearConcepts } from '../../lib/wordnet';

test('ROC AUC counts pairs ordered right, ties as half, and needs both classes', () => {
  expect(rocAuc([0.1, 0.2, 0.8, 0.9], [false, false, true, true])).toBe(1);
  expect(rocAuc([0.9, 0.8, 0.2, 0.1], [false, false, true, true])).toBe(0);
  expect(rocAuc([0.5, 0.5, 0.5, 0.5], [false, true, false, true])).toBe(0.5);
  // Positives 0.4 and 0.9 against negatives 0.1, 0.5: 3 of 4 pairs ordered right.
  expect(rocAuc([0.1, 0.4, 0.5, 0.9], [false, true, false, true])).toBe(0.75);
  expect(rocAuc([0.1, 0.2], [true, true])).toBeNull();
  expect(rocAuc([], [])).toBeNull();
});

test("Spearman's ρ is Pearson's on average ranks", () => {
  expect(spearman([1, 2, 3, 4], [10, 20, 30, 1000])).toBeCloseTo(1);
  expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1);
  // Ties (concepts that found nothing share the lowest reward) take their average rank.
  expect(spearman([1, 2, 3, 4, 5], [0, 0, 0, 1, 2])).toBeCloseTo(8 / Math.sqrt(80), 6);
  expect(spearman([1, 2], [1, 2])).toBeNull();
  expect(spearman([1, 2, 3], [5, 5, 5])).toBeNull();
});

test('one iteration: AUC over labelled downloads, near shares, and no most likely concepts when uniform', () => {
  const near = nearConcepts(loadNouns(), ['n02099601']); // golden retriever
  const d = iterationDiagnostics({
    images: [
      { reward: 0.9, relevant: true },
      { reward: 0.2, relevant: false },
      { reward: 0.4, relevant: false },
      { reward: NaN, relevant: true },
    ],
    queried: [
      { concept: 'Labrador retriever', reward: 0.8, predicted: 2 },
      { concept: 'golden pea', reward: 0.1, predicted: 1 },
      { concept: 'toy box', reward: -1, predicted: 0 },
      { concept: 'retriever', reward: null, predicted: 3 },
    ],
    mostLikely: [
      { concept: 'cocker spaniel', probability: 0.3 },
      { concept: 'golden pea', probability: 0.2 },
    ],
    near,
  });
  expect(d.rewardAuc).toBe(1);
  expect(d.nearQueries).toBe(0.5);
  expect(d.mostLikely).toEqual(['cocker spaniel', 'golden pea']);
  expect(d.nearMostLikely).toBe(0.5);
  expect(d.gpRankCorrelation).toBeCloseTo(1);
  const uniform = iterationDiagnostics({
    images: [],
    queried: [{ concept: 'dog', reward: 1, predicted: null }],
    mostLikely: [
      { concept: 'a', probability: 0.1 },
      { concept: 'b', probability: 0.1 },
    ],
    near,
  });
  expect(uniform).toEqual({
    rewardAuc: null,
    nearQueries: 1,
    mostLikely: [],
    nearMostLikely: null,
    gpRankCorrelation: null,
  });
});

/** The shared fixture with the figures these tests' expectations were worked out from. */
function iteration(i: number, over: Partial<IterationFigures> = {}): IterationFigures {
  return iterationFigures(i, {
    bestConcepts: [],
    wallMs: 1000,
    rewardAuc: 0.6,
    nearQueries: 0.2,
    mostLikely: [],
    nearMostLikely: 0.6,
    gpRankCorrelation: 0.2,
    ...over,
  });
}

function summary(seed: number, exploreRelevant: number, randomRelevant: number): BenchmarkSummary {
  const arm = (mode: string, relevant: number): ArmFigures => ({
    runId: `s${seed}-${mode}`,
    mode,
    status: 'completed',
    iterations: [0, 1, 2].map((i) =>
      iteration(i, i === 0 ? {} : { relevant, precision: relevant / 100, gpRankCorrelation: i === 0 ? null : 0.3 }),
    ),
  });
  const explore = arm('explore', exploreRelevant);
  const random = arm('random', randomRelevant);
  return {
    target: '/t/pets',
    targetClasses: {},
    relevantInCorpus: 1,
    corpus: '',
    budget: { iterations: 3, queriesPerIteration: 64, resultsPerQuery: 50, trainSteps: 10, seed },
    startedAt: '',
    finishedAt: '',
    arms: { explore, random },
    goals: compareArms(explore, random),
  };
}

test('seeds: per-seed figures, then the median and range of each, the goals judged on the median', () => {
  const runs = [summary(0, 20, 2), summary(1, 30, 10), summary(2, 12, 0)];
  const f = seedFigures(runs[0]);
  expect(f).toMatchObject({ seed: 0, precisionRatio: 10, pooledRatio: 10, nearMostLikely: 0.6 });
  expect(f.gpRankCorrelation).toBeCloseTo(0.3);
  expect(f.rewardAuc).toBeCloseTo(0.6);
  expect(seedFigures(runs[2]).precisionRatio).toBe(Infinity);
  const v = seedsVerdict(runs);
  // Ratios 10, 3 and unbounded: the median is 10.
  expect(v.spreads.precisionRatio).toMatchObject({ median: 10, max: Infinity, n: 3 });
  expect(v.spreads.precisionRatio.min).toBeCloseTo(3);
  expect(v.goals.precisionRatio.met).toBe(true);
  expect(v.goals.nearMostLikely).toEqual({ goal: 0.5, median: 0.6, met: true });
  const text = formatSeedsVerdict(v);
  expect(text).toContain('| precision ratio, last iteration | 10.0× | 3.0× – unbounded | 10.0× | 3.0× | unbounded |');
  expect(text).toContain('median precision ratio 10.0× (goal ≥ 4×: met)');
  expect(spread([null, 2, 4])).toEqual({ median: 3, min: 2, max: 4, n: 2 });
  expect(spread([])).toEqual({ median: null, min: null, max: null, n: 0 });
});

test('benchmarks of one seed each combine into one verdict, and only when they differ by their seed', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-seeds-'));
  try {
    const write = async (name: string, s: ReturnType<typeof summary>) => {
      await fs.mkdir(path.join(root, name));
      await fs.writeFile(path.join(root, name, 'summary.json'), JSON.stringify(s));
      return path.join(root, name);
    };
    const dirs = [await write('s2', summary(2, 12, 0)), await write('s0', summary(0, 20, 2))];
    const combined = await readSeedSummaries(dirs);
    expect(combined.map((s) => s.budget.seed)).toEqual([0, 2]);
    expect(seedsVerdict(combined).spreads.precisionRatio).toMatchObject({ median: Infinity, n: 2 });
    const other = summary(1, 30, 10);
    other.budget.trainSteps = 99;
    const odd = await write('other', other);
    await expect(readSeedSummaries([dirs[0], odd])).rejects.toThrow(SeedsMismatchError);
    await expect(readSeedSummaries([dirs[0], odd])).rejects.toThrow(/differ by their seed/);
    await expect(readSeedSummaries([dirs[0], dirs[0]])).rejects.toThrow(/both ran seed 2/);
    await expect(readSeedSummaries([path.join(root, 'none')])).rejects.toThrow(/summary.json is missing/);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('--seeds takes distinct integers and excludes --seed', () => {
  expect(seedList({})).toBeUndefined();
  expect(seedList({ seeds: '0, 1,2' })).toEqual([0, 1, 2]);
  expect(() => seedList({ seeds: '0,x' })).toThrow(/comma-separated list of integers/);
  expect(() => seedList({ seeds: '1,1' })).toThrow(/twice/);
  expect(() => seedList({ seeds: '1', seed: '2' })).toThrow(/not both/);
});
