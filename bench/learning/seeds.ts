/**
 * Verdicts over several seeds: one benchmark per seed, then the median and range of each figure. Random
 * exploration's precision swings from one run to the next (one lucky query brings 50 relevant images), so a
 * single run's ratio says little; the goals are judged on the medians.
 *
 * `ie benchmark --seeds 0,1,2` writes the verdict itself; benchmarks of one seed each, run separately, are
 * combined afterwards with
 *
 *   node --import tsx bench/learning/seeds.ts DIR [DIR…] [--out DIR]
 *
 * (each DIR holds a benchmark's summary.json; same target and budget but for the seed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pct } from '../../lib/format';
import { NEAR_SHARE_GOAL, POOLED_RATIO_GOAL, PRECISION_RATIO_GOAL, type BenchmarkSummary } from './report';
import { benchArgs } from '../options';

/** The figures of one seed's benchmark that the verdict is made of. */
export interface SeedFigures {
  seed: number;
  iteration: number | null;
  precisionExplore: number | null;
  precisionRandom: number | null;
  /** explore / random at the last iteration; Infinity when random found nothing and explore something. */
  precisionRatio: number | null;
  pooledExplore: number | null;
  pooledRandom: number | null;
  pooledRatio: number | null;
  /** Share of explore's 10 most likely concepts near a target class, at the last iteration. */
  nearMostLikely: number | null;
  /** explore's reward AUC, mean over its iterations. */
  rewardAuc: number | null;
  /** explore's GP rank correlation, mean over the iterations it drew (all but the first). */
  gpRankCorrelation: number | null;
  /** explore's share of queries near a target class, mean over the iterations after the first. */
  nearQueries: number | null;
  knnGainPoints: number | null;
}

function mean(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

/** A ratio whose denominator is 0: unbounded when the numerator is positive. */
function ratio(e: number | null, r: number | null): number | null {
  if (e === null || r === null) return null;
  if (r > 0) return e / r;
  return e > 0 ? Infinity : null;
}

export function seedFigures(summary: BenchmarkSummary): SeedFigures {
  const g = summary.goals;
  const explore = summary.arms.explore.iterations;
  return {
    seed: summary.budget.seed,
    iteration: g.iteration,
    precisionExplore: g.precision.explore,
    precisionRandom: g.precision.random,
    precisionRatio: ratio(g.precision.explore, g.precision.random),
    pooledExplore: g.pooled?.precision.explore ?? null,
    pooledRandom: g.pooled?.precision.random ?? null,
    pooledRatio: ratio(g.pooled?.precision.explore ?? null, g.pooled?.precision.random ?? null),
    nearMostLikely: g.nearMostLikely,
    rewardAuc: mean(explore.map((it) => it.rewardAuc)),
    gpRankCorrelation: mean(explore.slice(1).map((it) => it.gpRankCorrelation)),
    nearQueries: mean(explore.slice(1).map((it) => it.nearQueries)),
    knnGainPoints: g.knnGainPoints,
  };
}

export interface Spread {
  median: number | null;
  min: number | null;
  max: number | null;
  /** Seeds with the figure. */
  n: number;
}

/** Median (mean of the middle two for an even count) and range; Infinity sorts above every number. */
export function spread(values: (number | null)[]): Spread {
  const v = values.filter((x): x is number => x !== null && !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: null, min: null, max: null, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : v[mid - 1] === v[mid] ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

/** The figures the seeds table lists, with how each is printed. */
export const SEED_ROWS: { key: Exclude<keyof SeedFigures, 'seed' | 'iteration'>; label: string; format: Fmt }[] = [
  { key: 'precisionRatio', label: 'precision ratio, last iteration', format: 'ratio' },
  { key: 'precisionExplore', label: 'precision explore, last iteration', format: 'pct' },
  { key: 'precisionRandom', label: 'precision random, last iteration', format: 'pct' },
  { key: 'pooledRatio', label: 'pooled precision ratio, iterations 1–last', format: 'ratio' },
  { key: 'pooledExplore', label: 'pooled precision explore', format: 'pct' },
  { key: 'pooledRandom', label: 'pooled precision random', format: 'pct' },
  { key: 'nearMostLikely', label: '10 most likely concepts near a target class, last iteration', format: 'pct' },
  { key: 'nearQueries', label: 'queries near a target class (explore, mean of iterations 1–last)', format: 'pct' },
  { key: 'rewardAuc', label: 'reward AUC (explore, mean over iterations)', format: 'fixed' },
  { key: 'gpRankCorrelation', label: 'GP rank correlation (explore, mean of iterations 1–last)', format: 'fixed' },
  { key: 'knnGainPoints', label: 'kNN explore − random, points', format: 'points' },
];

type Fmt = 'ratio' | 'pct' | 'fixed' | 'points';

export function formatValue(value: number | null, format: Fmt): string {
  if (value === null) return '—';
  if (format === 'ratio') return value === Infinity ? 'unbounded' : `${value.toFixed(1)}×`;
  if (format === 'pct') return pct(value);
  if (format === 'points') return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
  return value.toFixed(2);
}

export interface SeedsVerdict {
  target: string;
  seeds: SeedFigures[];
  spreads: Record<string, Spread>;
  goals: {
    precisionRatio: { goal: number; median: number | null; met: boolean | null };
    pooledRatio: { goal: number; median: number | null; met: boolean | null };
    nearMostLikely: { goal: number; median: number | null; met: boolean | null };
  };
}

export function seedsVerdict(summaries: BenchmarkSummary[]): SeedsVerdict {
  const seeds = summaries.map(seedFigures);
  const spreads = Object.fromEntries(SEED_ROWS.map((r) => [r.key, spread(seeds.map((s) => s[r.key]))]));
  const goal = (key: string, target: number) => {
    const median = spreads[key].median;
    return { goal: target, median, met: median === null ? null : median >= target };
  };
  return {
    target: summaries[0]?.target ?? '',
    seeds,
    spreads,
    goals: {
      precisionRatio: goal('precisionRatio', PRECISION_RATIO_GOAL),
      pooledRatio: goal('pooledRatio', POOLED_RATIO_GOAL),
      nearMostLikely: goal('nearMostLikely', NEAR_SHARE_GOAL),
    },
  };
}

/** A Markdown table: one row per figure with its median, range and every seed's value; then the verdicts. */
export function formatSeedsVerdict(v: SeedsVerdict): string {
  const head = ['figure', 'median', 'range', ...v.seeds.map((s) => `seed ${s.seed}`)];
  const rows = SEED_ROWS.map((r) => {
    const s = v.spreads[r.key];
    const range = s.n > 1 ? `${formatValue(s.min, r.format)} – ${formatValue(s.max, r.format)}` : '—';
    return [r.label, formatValue(s.median, r.format), range, ...v.seeds.map((x) => formatValue(x[r.key], r.format))];
  });
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const verdict = (met: boolean | null) => (met === null ? 'not measurable' : met ? 'met' : 'NOT met');
  const g = v.goals;
  return [
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
    '',
    `median precision ratio ${formatValue(g.precisionRatio.median, 'ratio')} (goal ≥ ${g.precisionRatio.goal}×: ${verdict(g.precisionRatio.met)}); ` +
      `median pooled ratio ${formatValue(g.pooledRatio.median, 'ratio')} (goal ≥ ${g.pooledRatio.goal}×: ${verdict(g.pooledRatio.met)}); ` +
      `median share of the 10 most likely concepts near a target class ${formatValue(g.nearMostLikely.median, 'pct')} ` +
      `(goal ≥ ${pct(g.nearMostLikely.goal)}: ${verdict(g.nearMostLikely.met)})`,
  ].join('\n');
}

/**
 * The summaries of benchmarks of one seed each, checked to be comparable: the same target, starting encoder
 * and budget (iterations, queries, results, training steps), distinct seeds. Ordered by seed.
 * @throws SeedsMismatchError naming the folder that differs and how
 */
export async function readSeedSummaries(dirs: string[]): Promise<BenchmarkSummary[]> {
  if (dirs.length === 0) throw new SeedsMismatchError('name at least one benchmark folder (it holds summary.json)');
  const summaries: BenchmarkSummary[] = [];
  for (const dir of dirs) {
    const file = path.join(dir, 'summary.json');
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      throw new SeedsMismatchError(`${file} is missing: name the folder a finished ie benchmark wrote`);
    }
    summaries.push(JSON.parse(text) as BenchmarkSummary);
  }
  const first = summaries[0];
  const shape = (s: BenchmarkSummary) => {
    const { seed: _seed, ...rest } = s.budget;
    return JSON.stringify({ target: s.target, budget: rest });
  };
  const seen = new Map<number, string>();
  summaries.forEach((s, i) => {
    if (shape(s) !== shape(first)) {
      throw new SeedsMismatchError(
        `${dirs[i]} is another benchmark than ${dirs[0]} (target or budget differ: ${shape(s)} against ${shape(first)}); ` +
          'combine only runs that differ by their seed',
      );
    }
    const twice = seen.get(s.budget.seed);
    if (twice !== undefined) throw new SeedsMismatchError(`${twice} and ${dirs[i]} both ran seed ${s.budget.seed}`);
    seen.set(s.budget.seed, dirs[i]);
  });
  return summaries.sort((a, b) => a.budget.seed - b.budget.seed);
}

export class SeedsMismatchError extends Error {
  override readonly name = 'SeedsMismatchError';
}

/** Writes `seeds.json` and `seeds.md` under `outDir`. */
export async function writeSeedsVerdict(outDir: string, v: SeedsVerdict): Promise<{ json: string; md: string }> {
  await fs.mkdir(outDir, { recursive: true });
  const json = path.join(outDir, 'seeds.json');
  const md = path.join(outDir, 'seeds.md');
  // JSON has no Infinity: an unbounded ratio is written as the string 'unbounded'.
  await fs.writeFile(json, JSON.stringify(v, (_k, x: unknown) => (x === Infinity ? 'unbounded' : x), 2) + '\n');
  await fs.writeFile(md, formatSeedsVerdict(v) + '\n');
  return { json, md };
}

if (require.main === module) {
  const usage = 'node --import tsx bench/learning/seeds.ts DIR [DIR…] [--out DIR]';
  const { values, positionals } = benchArgs(usage, { out: { type: 'string' } }, { min: 1, max: Infinity });
  const out = values.out;
  readSeedSummaries(positionals)
    .then(async (summaries) => {
      const verdict = seedsVerdict(summaries);
      process.stdout.write(`${verdict.target}, seeds ${verdict.seeds.map((s) => s.seed).join(', ')}:\n`);
      process.stdout.write(`${formatSeedsVerdict(verdict)}\n`);
      if (out) {
        const files = await writeSeedsVerdict(out, verdict);
        process.stdout.write(`seeds:   ${files.md}\n         ${files.json}\n`);
      }
    })
    .catch((error: unknown) => {
      if (!(error instanceof SeedsMismatchError)) throw error;
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(2);
    });
}
