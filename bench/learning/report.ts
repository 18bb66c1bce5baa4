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

/** The goals, compared at the last iteration both arms reached. */
export interface Goals {
  iteration: number | null;
  /** Both arms' relevance precision at that iteration. */
  precision: Record<Arm, number | null>;
  /** explore precision / random precision (null when random's is 0 or missing). */
  precisionRatio: number | null;
  /** explore kNN accuracy − random kNN accuracy, in points (0–100 scale). */
  knnGainPoints: number | null;
  precisionGoal: { ratio: number; met: boolean | null };
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
export const KNN_GAIN_GOAL_POINTS = 5;

export function compareArms(explore: ArmFigures, random: ArmFigures): Goals {
  const common = Math.min(explore.iterations.length, random.iterations.length);
  const at = (arm: ArmFigures) => arm.iterations[common - 1] as IterationFigures | undefined;
  const e = common > 0 ? at(explore) : undefined;
  const r = common > 0 ? at(random) : undefined;
  const precisionRatio =
    e?.precision != null && r?.precision != null && r.precision > 0 ? e.precision / r.precision : null;
  // Accuracies are counts over the same test split stored as fractions: 59/180 − 50/180 came out as
  // 4.999999999999999 points. Rounded to a millionth of a point, the difference is the exact one.
  const knnGainPoints =
    e?.knnAccuracy != null && r?.knnAccuracy != null ? Math.round(1e8 * (e.knnAccuracy - r.knnAccuracy)) / 1e6 : null;
  return {
    iteration: e ? e.iteration : null,
    precision: { explore: e?.precision ?? null, random: r?.precision ?? null },
    precisionRatio,
    knnGainPoints,
    precisionGoal: {
      ratio: PRECISION_RATIO_GOAL,
      // A random arm that found nothing relevant cannot be beaten by a ratio, only by any relevant image.
      met:
        e?.precision == null || r?.precision == null
          ? null
          : r.precision === 0
            ? e.precision > 0
            : e.precision >= PRECISION_RATIO_GOAL * r.precision,
    },
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
  'top_concepts',
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
        it.topConcepts.join('; '),
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

/** The cells the printed and the HTML tables share, for one arm's iteration: iteration … linear probe. */
export function figureCells(arm: Arm, it: IterationFigures): string[] {
  return [
    String(it.iteration),
    arm,
    String(it.downloaded),
    String(it.relevant),
    pct(it.precision),
    pct(it.knnAccuracy),
    pct(it.linearProbeAccuracy),
  ];
}

/** The per-iteration table and the goals, as printed at the end of a benchmark. */
export function formatSummary(summary: BenchmarkSummary): string {
  const header = ['iter', 'arm', 'images', 'relevant', 'precision', 'kNN', 'lin.probe', 'top concepts queried'];
  const rows = interleavedIterations(summary).map(({ arm, it }) => [
    ...figureCells(arm, it),
    it.topConcepts.slice(0, 3).join(', ') || '—',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  const g = summary.goals;
  const verdict = (met: boolean | null) => (met === null ? 'not measurable' : met ? 'met' : 'NOT met');
  const b = summary.budget;
  return [
    `target ${summary.target} (${Object.keys(summary.targetClasses).length} classes, ${summary.relevantInCorpus} relevant images in the corpus)`,
    `budget per arm: ${b.iterations} iterations × ${b.queriesPerIteration} queries × ${b.resultsPerQuery} results, ${b.trainSteps} training steps, seed ${b.seed}` +
      (b.startingEncoder === undefined ? '' : `, starting encoder: ${b.startingEncoder ?? 'random weights'}`),
    line(header),
    ...rows.map(line),
    `at iteration ${g.iteration ?? '—'}: precision explore/random = ${precisionComparison(g)} ` +
      `(goal ≥ ${g.precisionGoal.ratio}×: ${verdict(g.precisionGoal.met)}); ` +
      `kNN explore − random = ${g.knnGainPoints?.toFixed(1) ?? '—'} points (goal ≥ +${g.knnGoal.points}: ${verdict(g.knnGoal.met)})`,
  ].join('\n');
}

/** Both arms' precision at the compared iteration and their ratio ("13.0% / 0.0%, unbounded" when random found none). */
function precisionComparison(g: Goals): string {
  const { explore: e, random: r } = g.precision;
  const ratio =
    g.precisionRatio !== null ? `${g.precisionRatio.toFixed(2)}×` : r === 0 && e !== null && e > 0 ? 'unbounded' : '—';
  return `${pct(e)} / ${pct(r)} = ${ratio}`;
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
