import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ArmFigures, IterationFigures } from '../../bench/learning/figures';
import { iterationFigures } from '../support/benchmark-figures';
import { chartSpecs, htmlReport } from '../../bench/learning/html';
import {
  compareArms,
  csvField,
  formatSummary,
  toCsv,
  writeTables,
  type BenchmarkSummary,
} from '../../bench/learning/report';

const iteration = iterationFigures;

const arm = (mode: string, its: IterationFigures[]): ArmFigures => ({
  runId: `b-${mode}`,
  mode,
  status: 'completed',
  iterations: its,
});

function summary(): BenchmarkSummary {
  const explore = arm('explore', [iteration(0), iteration(1, { relevant: 50, precision: 0.5, knnAccuracy: 0.4 })]);
  const random = arm('random', [
    iteration(0),
    iteration(1, { relevant: 5, precision: 0.05, knnAccuracy: 0.32, bestConcepts: ['say "hi"'], mostLikely: [] }),
  ]);
  return {
    target: '/t/pets',
    targetClasses: { n02085620_Chihuahua: 'n02085620' },
    relevantInCorpus: 501,
    corpus: '/c/manifest.jsonl',
    budget: { iterations: 2, queriesPerIteration: 64, resultsPerQuery: 50, trainSteps: 100, seed: 0 },
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:10:00Z',
    arms: { explore, random },
    goals: compareArms(explore, random),
  };
}

test('csv fields are quoted only when they must be, quotes doubled', () => {
  expect(csvField('plain')).toBe('plain');
  expect(csvField('a, b')).toBe('"a, b"');
  expect(csvField('say "hi"')).toBe('"say ""hi"""');
  expect(csvField('two\nlines')).toBe('"two\nlines"');
  expect(csvField(null)).toBe('');
  expect(csvField(0.25)).toBe('0.25');
});

test('the CSV has one row per arm and iteration with both arms figures', () => {
  const lines = toCsv(summary().arms).trimEnd().split('\r\n');
  expect(lines[0]).toBe(
    'arm,run_id,iteration,queries,downloaded,relevant,unlabelled,precision,knn_accuracy,linear_probe_accuracy,mean_reward,wall_s,' +
      'reward_auc,near_queries,near_most_likely,gp_rank_correlation,best_concepts,most_likely_concepts',
  );
  expect(lines).toHaveLength(5);
  expect(lines[2]).toBe(
    'explore,b-explore,1,64,100,50,0,0.5,0.4,,0.5,62,0.7,0.25,0.5,0.3,"dog; tabby, cat",toy spaniel; beagle',
  );
  expect(lines[4]).toBe('random,b-random,1,64,100,5,0,0.05,0.32,,0.5,62,0.7,0.25,0.5,0.3,"say ""hi""",');
});

test('goals compare the last common iteration: precision ratio and kNN gain in points', () => {
  const g = summary().goals;
  expect(g.iteration).toBe(1);
  expect(g.precisionRatio).toBeCloseTo(10);
  expect(g.knnGainPoints).toBeCloseTo(8);
  expect(g.precisionGoal.met).toBe(true);
  expect(g.knnGoal.met).toBe(true);
  const flat = compareArms(
    arm('explore', [iteration(0)]),
    arm('random', [iteration(0, { precision: 0.05, knnAccuracy: 0.29 })]),
  );
  expect(flat.precisionGoal.met).toBe(false); // 0.1 < 4 × 0.05
  expect(flat.knnGoal.met).toBe(false); // +1 point
  const missing = compareArms(arm('explore', [iteration(0, { knnAccuracy: null })]), arm('random', [iteration(0)]));
  expect(missing.knnGoal.met).toBeNull();
  expect(compareArms(arm('explore', []), arm('random', [])).iteration).toBeNull();
  // Exactly five points on a 180-image test split (59 vs 50 right) meets the goal despite float rounding.
  const exact = compareArms(
    arm('explore', [iteration(0, { knnAccuracy: 59 / 180 })]),
    arm('random', [iteration(0, { knnAccuracy: 50 / 180 })]),
  );
  expect(100 * (59 / 180 - 50 / 180)).toBeLessThan(5);
  expect(exact.knnGainPoints).toBe(5);
  expect(exact.knnGoal.met).toBe(true);
});

test('JSON summary and CSV are written, and the JSON holds both arms per iteration', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-bench-report-'));
  const files = await writeTables(dir, summary());
  const json = JSON.parse(fs.readFileSync(files.json, 'utf8')) as BenchmarkSummary;
  expect(json.arms.explore.iterations.map((i) => i.precision)).toEqual([0.1, 0.5]);
  expect(json.arms.random.iterations.map((i) => i.knnAccuracy)).toEqual([0.3, 0.32]);
  expect(json.goals.precisionGoal.met).toBe(true);
  expect(fs.readFileSync(files.csv, 'utf8').split('\r\n')[1].startsWith('explore,b-explore,0,')).toBe(true);
});

test('the printed summary and the HTML show both arms, with "—" for a metric not measured', () => {
  const s = summary();
  const text = formatSummary(s);
  expect(text).toMatch(/1\s+explore\s+100\s+50\s+50\.0%\s+40\.0%\s+—/);
  expect(text).toMatch(/1\s+random\s+100\s+5\s+5\.0%\s+32\.0%\s+—/);
  expect(text).toContain('precision explore/random = 50.0% / 5.0% = 10.00× (goal ≥ 4×: met)');
  expect(text).toContain('pooled over iterations 1–1: 50.0% / 5.0% = 10.00× (goal ≥ 3×: met)');
  expect(text).toContain('near a target class: 50.0% of the 10 most likely concepts (goal ≥ 50.0%: met)');
  expect(text).toMatch(
    /1\s+explore\s+100\s+50\s+50\.0%\s+40\.0%\s+—\s+0\.70\s+25\.0%\s+50\.0%\s+0\.30\s+dog, tabby, cat\s+toy spaniel, beagle/,
  );
  const specs = chartSpecs(s);
  expect(specs).toHaveLength(2);
  // No linear-probe points while that metric is missing; kNN for both arms and iterations.
  expect((specs[0].data as { values: unknown[] }).values).toHaveLength(4);
  const html = htmlReport(s, ['<svg id="a"></svg>', '<svg id="b"></svg>'], text);
  expect(html).toContain('<svg id="a"></svg>');
  expect(html).toContain('say &#34;hi&#34;');
});

test('pooled precision sums relevant and downloaded images over the iterations after the first', () => {
  const explore = arm('explore', [
    iteration(0, { relevant: 90, downloaded: 100, precision: 0.9 }),
    iteration(1, { relevant: 10, downloaded: 100, precision: 0.1 }),
    iteration(2, { relevant: 30, downloaded: 50, precision: 0.6 }),
  ]);
  const random = arm('random', [
    iteration(0),
    iteration(1, { relevant: 2, downloaded: 100, precision: 0.02 }),
    iteration(2, { relevant: 3, downloaded: 50, precision: 0.06 }),
  ]);
  const g = compareArms(explore, random);
  expect(g.pooled?.from).toBe(1);
  expect(g.pooled?.to).toBe(2);
  expect(g.pooled?.precision.explore).toBeCloseTo(40 / 150);
  expect(g.pooled?.precision.random).toBeCloseTo(5 / 150);
  expect(g.pooled?.ratio).toBeCloseTo(8);
  expect(g.pooledGoal.met).toBe(true);
  expect(g.precisionGoal.met).toBe(true); // 0.6 ≥ 4 × 0.06
  expect(g.nearGoal.met).toBe(true);
  expect(compareArms(arm('explore', [iteration(0)]), arm('random', [iteration(0)])).pooled).toBeNull();
});

test('a random arm that found nothing relevant is printed as such, not as a missing ratio', () => {
  const s = summary();
  s.arms.random.iterations[1] = iteration(1, { relevant: 0, precision: 0, knnAccuracy: 0.32 });
  s.goals = compareArms(s.arms.explore, s.arms.random);
  const text = formatSummary(s);
  expect(s.goals.precisionRatio).toBeNull();
  expect(s.goals.precision).toEqual({ explore: 0.5, random: 0 });
  expect(text).toContain('at iteration 1: precision explore/random = 50.0% / 0.0% = unbounded (goal ≥ 4×: met)');
});
