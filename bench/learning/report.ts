/**
 * The benchmark's table (CSV), its JSON summary and the text printed at the end. Pure functions plus
 * one writer; the HTML report with plots is in html.ts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pct } from '../../lib/format';
import type { ArmFigures, IterationFigures } from './figures';

export const ARMS = ['explore', 'random'] as const;
export type Arm = (typeof ARMS)[number];

/** The budget both arms share. */
export interface Budget {
  iterations: number;
  queriesPerIteration: number;
  resultsPerQuery: number;
  trainSteps: number;
  seed: number;
  /** The checkpoint both arms start from (train.initCheckpoint); null: random weights. */
  startingEncoder?: string | null;
}

/** The goals, compared at the last iteration both arms reached (and pooled over the iterations before it). */
export interface Goals {
  iteration: number | null;
  /** Both arms' relevance precision at that iteration. */
  precision: Record<Arm, number | null>;
  /** explore precision / random precision (null when random's is 0 or missing). */
  precisionRatio: number | null;
  /**
   * Precision pooled over every iteration after the first (whose draw is uniform in both arms) up to that
   * iteration: relevant images over downloaded images, per arm.
   */
  pooled: { from: number; to: number; precision: Record<Arm, number | null>; ratio: number | null } | null;
  /** explore kNN accuracy − random kNN accuracy, in points (0–100 scale). */
  knnGainPoints: number | null;
  /** Share of explore's 10 most likely concepts at that iteration that are near a target class. */
  nearMostLikely: number | null;
  precisionGoal: { ratio: number; met: boolean | null };
  pooledGoal: { ratio: number; met: boolean | null };
  nearGoal: { share: number; met: boolean | null };
  knnGoal: { points: number; met: boolean | null };
}

export interface BenchmarkSummary {
  target: string;
  /** Target class folder → corpus class (WordNet id). */
  targetClasses: Record<string, string>;
  /** Images of the target's classes in the corpus. */
  relevantInCorpus: number;
  corpus: string;
  budget: Budget;
  startedAt: string;
  finishedAt: string;
  arms: Record<Arm, ArmFigures>;
  goals: Goals;
}

export const PRECISION_RATIO_GOAL = 4;
export const POOLED_RATIO_GOAL = 3;
export const NEAR_SHARE_GOAL = 0.5;
export const KNN_GAIN_GOAL_POINTS = 5;

/** explore / random, or null when random's is 0 or either is missing. */
function ratioOf(e: number | null | undefined, r: number | null | undefined): number | null {
  return e != null && r != null && r > 0 ? e / r : null;
}

/** Whether explore's figure is at least `goal` × random's; any relevant image beats a random arm that found none. */
function ratioMet(e: number | null | undefined, r: number | null | undefined, goal: number): boolean | null {
  if (e == null || r == null) return null;
  return r === 0 ? e > 0 : e >= goal * r;
}

function pooledPrecision(arm: ArmFigures, from: number, to: number): number | null {
  let relevant = 0;
  let downloaded = 0;
  for (const it of arm.iterations.slice(from, to + 1)) {
    relevant += it.relevant;
    downloaded += it.downloaded;
  }
  return downloaded ? relevant / downloaded : null;
}

export function compareArms(explore: ArmFigures, random: ArmFigures): Goals {
  const common = Math.min(explore.iterations.length, random.iterations.length);
  const at = (arm: ArmFigures) => arm.iterations[common - 1] as IterationFigures | undefined;
  const e = common > 0 ? at(explore) : undefined;
  const r = common > 0 ? at(random) : undefined;
  // Accuracies are counts over the same test split stored as fractions: 59/180 − 50/180 came out as
  // 4.999999999999999 points. Rounded to a millionth of a point, the difference is the exact one.
  const knnGainPoints =
    e?.knnAccuracy != null && r?.knnAccuracy != null ? Math.round(1e8 * (e.knnAccuracy - r.knnAccuracy)) / 1e6 : null;
  const pooled =
    common > 1
      ? (() => {
          const precision = {
            explore: pooledPrecision(explore, 1, common - 1),
            random: pooledPrecision(random, 1, common - 1),
          };
          return { from: 1, to: common - 1, precision, ratio: ratioOf(precision.explore, precision.random) };
        })()
      : null;
  const nearMostLikely = e?.nearMostLikely ?? null;
  return {
    iteration: e ? e.iteration : null,
    precision: { explore: e?.precision ?? null, random: r?.precision ?? null },
    precisionRatio: ratioOf(e?.precision, r?.precision),
    pooled,
    knnGainPoints,
    nearMostLikely,
    precisionGoal: { ratio: PRECISION_RATIO_GOAL, met: ratioMet(e?.precision, r?.precision, PRECISION_RATIO_GOAL) },
    pooledGoal: {
      ratio: POOLED_RATIO_GOAL,
      met: ratioMet(pooled?.precision.explore, pooled?.precision.random, POOLED_RATIO_GOAL),
    },
    nearGoal: { share: NEAR_SHARE_GOAL, met: nearMostLikely === null ? null : nearMostLikely >= NEAR_SHARE_GOAL },
    knnGoal: {
      points: KNN_GAIN_GOAL_POINTS,
      met: knnGainPoints === null ? null : knnGainPoints >= KNN_GAIN_GOAL_POINTS,
    },
  };
}

const CSV_COLUMNS = [
  'arm',
  'run_id',
  'iteration',
  'queries',
  'downloaded',
  'relevant',
  'unlabelled',
  'precision',
  'knn_accuracy',
  'linear_probe_accuracy',
  'mean_reward',
  'wall_s',
  'reward_auc',
  'near_queries',
  'near_most_likely',
  'gp_rank_correlation',
  'best_concepts',
  'most_likely_concepts',
] as const;

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per arm and iteration; missing figures are empty fields. */
export function toCsv(arms: Record<Arm, ArmFigures>): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const arm of ARMS) {
    for (const it of arms[arm].iterations) {
      const row: (string | number | null)[] = [
        arm,
        arms[arm].runId,
        it.iteration,
        it.queries,
        it.downloaded,
        it.relevant,
        it.unlabelled,
        it.precision,
        it.knnAccuracy,
        it.linearProbeAccuracy,
        it.meanReward,
        it.wallMs === null ? null : Math.round(it.wallMs / 1000),
        it.rewardAuc,
        it.nearQueries,
        it.nearMostLikely,
        it.gpRankCorrelation,
        it.bestConcepts.join('; '),
        it.mostLikely.join('; '),
      ];
      lines.push(row.map(csvField).join(','));
    }
  }
  return lines.join('\r\n') + '\r\n';
}

/** Both arms' iterations interleaved (iteration 0 of each arm, then iteration 1, …), as the tables show them. */
export function interleavedIterations(summary: BenchmarkSummary): { arm: Arm; it: IterationFigures }[] {
  const rows: { arm: Arm; it: IterationFigures }[] = [];
  const n = Math.max(...ARMS.map((a) => summary.arms[a].iterations.length));
  for (let i = 0; i < n; i++)
    for (const arm of ARMS) {
      const it = summary.arms[arm].iterations[i];
      if (it) rows.push({ arm, it });
    }
  return rows;
}

/** A figure with two decimals, or — when missing. */
export function fixed2(value: number | null | undefined): string {
  return value == null ? '—' : value.toFixed(2);
}

/**
 * The cells the printed and the HTML tables share, for one arm's iteration: iteration … linear probe, then
 * the diagnostics (reward AUC, share of queries near a target class, share of the 10 most likely concepts
 * near one, the GP's rank correlation).
 */
export function figureCells(arm: Arm, it: IterationFigures): string[] {
  return [
    String(it.iteration),
    arm,
    String(it.downloaded),
    String(it.relevant),
    pct(it.precision),
    pct(it.knnAccuracy),
    pct(it.linearProbeAccuracy),
    fixed2(it.rewardAuc),
    pct(it.nearQueries),
    pct(it.nearMostLikely),
    fixed2(it.gpRankCorrelation),
  ];
}

export const FIGURE_HEADERS = [
  'iter',
  'arm',
  'images',
  'relevant',
  'precision',
  'kNN',
  'lin.probe',
  'AUC',
  'near q',
  'near top10',
  'GP ρ',
] as const;

/** "3.20×", "unbounded" (random found nothing, explore something) or "—". */
export function ratioText(ratio: number | null, explore: number | null | undefined, random: number | null | undefined) {
  return ratio !== null ? `${ratio.toFixed(2)}×` : random === 0 && explore != null && explore > 0 ? 'unbounded' : '—';
}

/** The per-iteration table and the goals, as printed at the end of a benchmark. */
export function formatSummary(summary: BenchmarkSummary): string {
  const header = [...FIGURE_HEADERS, 'best-scoring concepts', 'most likely next'];
  const rows = interleavedIterations(summary).map(({ arm, it }) => [
    ...figureCells(arm, it),
    it.bestConcepts.slice(0, 3).join(', ') || '—',
    it.mostLikely.slice(0, 3).join(', ') || '—',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  const g = summary.goals;
  const b = summary.budget;
  return [
    `target ${summary.target} (${Object.keys(summary.targetClasses).length} classes, ${summary.relevantInCorpus} relevant images in the corpus)`,
    `budget per arm: ${b.iterations} iterations × ${b.queriesPerIteration} queries × ${b.resultsPerQuery} results, ${b.trainSteps} training steps, seed ${b.seed}` +
      (b.startingEncoder === undefined ? '' : `, starting encoder: ${b.startingEncoder ?? 'random weights'}`),
    line(header),
    ...rows.map(line),
    'AUC: image rewards of target classes against the rest; near q: share of the queries near a target class ' +
      '(≤ 4 WordNet edges); near top10: the same among the 10 most likely concepts the iteration left; ' +
      "GP ρ: Spearman's rank correlation between the GP's prediction and the rewards of the concepts it drew",
    ...goalLines(g),
  ].join('\n');
}

const verdict = (met: boolean | null) => (met === null ? 'not measurable' : met ? 'met' : 'NOT met');

/** One line per goal. */
export function goalLines(g: Goals): string[] {
  const p = g.pooled;
  return [
    `at iteration ${g.iteration ?? '—'}: precision explore/random = ${pct(g.precision.explore)} / ${pct(g.precision.random)} = ` +
      `${ratioText(g.precisionRatio, g.precision.explore, g.precision.random)} (goal ≥ ${g.precisionGoal.ratio}×: ${verdict(g.precisionGoal.met)})`,
    p
      ? `pooled over iterations ${p.from}–${p.to}: ${pct(p.precision.explore)} / ${pct(p.precision.random)} = ` +
        `${ratioText(p.ratio, p.precision.explore, p.precision.random)} (goal ≥ ${g.pooledGoal.ratio}×: ${verdict(g.pooledGoal.met)})`
      : 'pooled precision: needs two iterations',
    `near a target class: ${pct(g.nearMostLikely)} of the 10 most likely concepts (goal ≥ ${pct(g.nearGoal.share)}: ${verdict(g.nearGoal.met)})`,
    `kNN explore − random = ${g.knnGainPoints?.toFixed(1) ?? '—'} points (goal ≥ +${g.knnGoal.points}: ${verdict(g.knnGoal.met)})`,
  ];
}

export interface ReportFiles {
  csv: string;
  json: string;
  html: string;
}

/** Writes the CSV table and the JSON summary (the HTML report is written by `writeHtmlReport`). */
export async function writeTables(outDir: string, summary: BenchmarkSummary): Promise<Omit<ReportFiles, 'html'>> {
  await fs.mkdir(outDir, { recursive: true });
  const csv = path.join(outDir, 'iterations.csv');
  const json = path.join(outDir, 'summary.json');
  await fs.writeFile(csv, toCsv(summary.arms));
  await fs.writeFile(json, JSON.stringify(summary, null, 2) + '\n');
  return { csv, json };
}
