/**
 * Why a run found or missed relevant data, iteration by iteration (read by the benchmark only, from the
 * corpus labels and the run's tables; a run never sees them):
 *
 * - **reward AUC**: how well the iteration's image rewards tell the target's classes from the rest among its
 *   downloads (0.5: the reward carries no signal, and exploration can only follow noise);
 * - **near queries**: the share of the iteration's queries whose concept is near a target class, a shortest
 *   path of at most 4 edges in WordNet's hypernym graph (lib/wordnet.ts `nearConcepts`);
 * - **near most likely**: the same share among the 10 most likely concepts of the distribution the
 *   iteration's update wrote (what the next iteration draws from);
 * - **GP rank correlation**: Spearman's ρ between the GP's predicted reward of the concepts the iteration
 *   queried (the prediction that drew them, from the update before) and the rewards they then earned
 *   (concepts that found nothing tie at the lowest, as the GP sees them).
 */
import { db } from '../../lib/db';
import { loadNouns, nearConcepts } from '../../lib/wordnet';
import { float32FromBytes } from '../../lib/bytes';

/** The most likely concepts of a distribution that the diagnostics look at. */
export const MOST_LIKELY = 10;

/**
 * Area under the ROC curve of `scores` for telling `positive` from the rest (ties count half);
 * null when either class is empty.
 */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number | null {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  const ranks = averageRanks(order.map((i) => scores[i]));
  let pos = 0;
  let rankSum = 0;
  order.forEach((i, r) => {
    if (positive[i]) {
      pos++;
      rankSum += ranks[r];
    }
  });
  const neg = n - pos;
  if (pos === 0 || neg === 0) return null;
  // Mann–Whitney U from 1-based ranks.
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** 1-based ranks of ascending sorted values, ties sharing their average rank. */
function averageRanks(sorted: number[]): number[] {
  const ranks = new Array<number>(sorted.length);
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[i]) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return ranks;
}

function ranksOf(values: ArrayLike<number>): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const sortedRanks = averageRanks(order.map((i) => values[i]));
  const out = new Array<number>(values.length);
  order.forEach((i, r) => (out[i] = sortedRanks[r]));
  return out;
}

/** Spearman's rank correlation (Pearson's on average ranks); null below 3 pairs or when either is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  const n = a.length;
  if (n !== b.length) throw new RangeError(`${n} and ${b.length} values`);
  if (n < 3) return null;
  const ra = ranksOf(a);
  const rb = ranksOf(b);
  const mean = (n + 1) / 2;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    va += (ra[i] - mean) ** 2;
    vb += (rb[i] - mean) ** 2;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : null;
}

export interface IterationDiagnostics {
  rewardAuc: number | null;
  /** Share of the iteration's queries near a target class. */
  nearQueries: number | null;
  /** The most likely concepts of the distribution this iteration's update wrote; empty when uniform. */
  mostLikely: string[];
  /** Share of `mostLikely` near a target class; null when the distribution is uniform. */
  nearMostLikely: number | null;
  /** ρ between the predictions that drew this iteration's concepts and their rewards; null at iteration 0. */
  gpRankCorrelation: number | null;
}

/** Inputs of one iteration's diagnostics, as read from the run (pure, for tests). */
export interface DiagnosticsInput {
  /** The iteration's downloads: reward under its encoder, and whether a target class. */
  images: { reward: number; relevant: boolean }[];
  /** Names of the concepts it queried, with the reward each earned and the prediction that drew it. */
  queried: { concept: string; reward: number | null; predicted: number | null }[];
  /** The distribution its update wrote, most likely first. */
  mostLikely: { concept: string; probability: number }[];
  near: (concept: string) => boolean;
}

export function iterationDiagnostics(input: DiagnosticsInput): IterationDiagnostics {
  const images = input.images.filter((i) => Number.isFinite(i.reward));
  const rewardAuc = rocAuc(
    images.map((i) => i.reward),
    images.map((i) => i.relevant),
  );
  const q = input.queried;
  const nearQueries = q.length ? q.filter((c) => input.near(c.concept)).length / q.length : null;
  const top = input.mostLikely.slice(0, MOST_LIKELY);
  // A uniform distribution (the random arm, iteration 0) has no most likely concepts, only a sort order.
  const uniform = top.length > 1 && top.every((c) => c.probability === top[0].probability);
  const mostLikely = uniform ? [] : top.map((c) => c.concept);
  const nearMostLikely = mostLikely.length ? mostLikely.filter(input.near).length / mostLikely.length : null;
  const pairs = q.filter(
    (c): c is { concept: string; reward: number; predicted: number } =>
      c.reward !== null && c.predicted !== null && Number.isFinite(c.reward) && Number.isFinite(c.predicted),
  );
  const gpRankCorrelation = spearman(
    pairs.map((c) => c.predicted),
    pairs.map((c) => c.reward),
  );
  return { rewardAuc, nearQueries, mostLikely, nearMostLikely, gpRankCorrelation };
}

/**
 * Every iteration's diagnostics for one run. `relevantOf` says whether a downloaded image (by sha256) is of a
 * target class; `targetClasses` are the target's WordNet ids.
 */
export async function runDiagnostics(
  runId: string,
  targetClasses: ReadonlySet<string>,
  relevantOf: (iteration: number) => Map<string, boolean>,
): Promise<Map<number, IterationDiagnostics>> {
  const near = nearConcepts(loadNouns(), targetClasses);
  const rewards = await db().$queryRaw<{ iteration: number; sha256: string; reward: number }[]>`
    SELECT iteration, sha256, reward FROM "ImageReward" WHERE "runId" = ${runId}`;
  const queries = await db().$queryRaw<{ iteration: number; conceptId: number; name: string }[]>`
    SELECT q.iteration, q."conceptId", c.name FROM "Query" q JOIN "Concept" c ON c.id = q."conceptId"
    WHERE q."runId" = ${runId}`;
  const conceptRewards = await db().conceptReward.findMany({
    where: { runId },
    select: { iteration: true, conceptId: true, reward: true },
  });
  const distributions = await db().distribution.findMany({
    where: { runId },
    select: { iteration: true, temperature: true, predicted: true, topConcepts: true },
  });
  const iterations = [...new Set(queries.map((q) => q.iteration))].sort((a, b) => a - b);
  const out = new Map<number, IterationDiagnostics>();
  for (const iteration of iterations) {
    const relevant = relevantOf(iteration);
    const images = rewards
      .filter((r) => r.iteration === iteration && relevant.has(r.sha256))
      .map((r) => ({ reward: Number(r.reward), relevant: relevant.get(r.sha256) === true }));
    const earned = new Map(conceptRewards.filter((c) => c.iteration === iteration).map((c) => [c.conceptId, c.reward]));
    const before = distributions.find((d) => d.iteration === iteration - 1);
    // The update before drew these concepts from its prediction; a uniform one (temperature null) predicted nothing.
    const predicted = before && before.temperature !== null ? float32FromBytes(before.predicted) : null;
    const written = distributions.find((d) => d.iteration === iteration);
    out.set(
      iteration,
      iterationDiagnostics({
        images,
        queried: queries
          .filter((q) => q.iteration === iteration)
          .map((q) => ({
            concept: q.name,
            reward: earned.get(q.conceptId) ?? null,
            predicted: predicted && q.conceptId < predicted.length ? predicted[q.conceptId] : null,
          })),
        mostLikely: Array.isArray(written?.topConcepts)
          ? (written.topConcepts as unknown as { concept: string; probability: number }[])
          : [],
        near,
      }),
    );
  }
  return out;
}
