/**
 * Per-iteration figures of one finished run, read from the run's database: relevance precision of its
 * downloads, its evaluation metrics, the concepts it queried and the diagnostics of diagnostics.ts.
 */
import { db, runStatusOf } from '../../lib/db';
import { parseRunConfig } from '../../lib/config';
import { conceptRewards, shrinkConceptRewards } from '../../activities/score/rewards';
import { relevancePrecision, type CorpusLabels, type DownloadedImage } from './relevance';
import { runDiagnostics, type IterationDiagnostics } from './diagnostics';

export interface IterationFigures extends IterationDiagnostics {
  iteration: number;
  queries: number;
  /** Distinct images the iteration's queries downloaded (what training and scoring got). */
  downloaded: number;
  /** Of those, images of a target class. */
  relevant: number;
  /** Of those, images that are no labelled corpus image (counted as not relevant). */
  unlabelled: number;
  precision: number | null;
  knnAccuracy: number | null;
  linearProbeAccuracy: number | null;
  meanReward: number | null;
  /** Best-scoring concepts: the iteration's queried concepts whose images scored highest, by shrunk mean reward. */
  bestConcepts: string[];
  wallMs: number | null;
}

export interface ArmFigures {
  runId: string;
  mode: string;
  status: string;
  iterations: IterationFigures[];
}

interface UrlRow {
  iteration: number;
  sha256: string;
  url: string;
}

/** Downloaded images per iteration: each Candidate image with every result URL of the iteration that delivered it. */
async function downloadedImages(runId: string, resultsPerQuery: number): Promise<Map<number, DownloadedImage[]>> {
  const rows = await db().$queryRaw<UrlRow[]>`
    SELECT DISTINCT q.iteration, f.sha256, r.url
    FROM "Query" q
    JOIN "SearchResult" r ON r.query = q."searchKey" AND r.provider = q.provider AND r.rank < ${resultsPerQuery}
    JOIN "Fetch" f ON f.url = r.url AND f.status = 'ok'
    JOIN "Candidate" c ON c."runId" = q."runId" AND c.iteration = q.iteration AND c.sha256 = f.sha256
    WHERE q."runId" = ${runId}`;
  const byIteration = new Map<number, Map<string, string[]>>();
  for (const row of rows) {
    const images = byIteration.get(row.iteration) ?? new Map<string, string[]>();
    images.set(row.sha256, [...(images.get(row.sha256) ?? []), row.url]);
    byIteration.set(row.iteration, images);
  }
  return new Map(
    [...byIteration].map(([iteration, images]) => [
      iteration,
      [...images].map(([sha256, urls]) => ({ sha256, urls: urls.sort() })),
    ]),
  );
}

function byIteration<T extends { iteration: number }>(rows: T[]): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const row of rows) {
    const group = groups.get(row.iteration);
    if (group) group.push(row);
    else groups.set(row.iteration, [row]);
  }
  return groups;
}

/** Names of the queried concepts with the highest concept reward in each iteration (best-scoring concepts). */
async function bestQueriedConcepts(runId: string, perIteration: number): Promise<Map<number, string[]>> {
  const queries = await db().query.findMany({
    where: { runId },
    select: { iteration: true, conceptId: true, text: true },
  });
  const rewards = await db().$queryRaw<{ iteration: number; conceptId: number; reward: number }[]>`
    SELECT c.iteration, c."conceptId", ir.reward
    FROM "Candidate" c
    JOIN "ImageReward" ir ON ir."runId" = c."runId" AND ir.iteration = c.iteration AND ir.sha256 = c.sha256
    WHERE c."runId" = ${runId}`;
  // Grouped once by iteration: filtering every row again for each iteration grows with the square of a long run.
  const askedBy = byIteration(queries);
  const rewardsBy = byIteration(rewards);
  const out = new Map<number, string[]>();
  for (const [iteration, asked] of askedBy) {
    const textOf = new Map(asked.map((q) => [q.conceptId, q.text]));
    const images = rewardsBy.get(iteration) ?? [];
    const ids = [...textOf.keys()];
    const perConcept = conceptRewards(images, ids);
    const found = ids.filter((id) => (perConcept.get(id)?.images ?? 0) > 0);
    // Ranked as the exploration weighs them: a mean over one image is shrunk towards the others', so the
    // list shows concepts whose many images scored well rather than one lucky image.
    const shrunk = shrinkConceptRewards(
      found.map((id) => perConcept.get(id) as { raw: number; images: number }),
      images,
    );
    const order = found
      .map((id, i) => ({ text: textOf.get(id) as string, reward: shrunk[i] }))
      .sort((a, b) => b.reward - a.reward || a.text.localeCompare(b.text));
    out.set(
      iteration,
      order.slice(0, perIteration).map((c) => c.text),
    );
  }
  return out;
}

/**
 * Everything the benchmark reports about one run, iteration by iteration. A run whose workflow ended before
 * its first stage recorded it (an interrupted benchmark) is reported as `not started`, in `mode`.
 */
export async function collectArmFigures(
  runId: string,
  mode: string,
  labels: CorpusLabels,
  targetClasses: ReadonlySet<string>,
  bestConcepts = 5,
): Promise<ArmFigures> {
  const run = await db().run.findUnique({
    where: { id: runId },
    select: { mode: true, status: true, config: true },
  });
  if (!run) return { runId, mode, status: 'not started', iterations: [] };
  const config = parseRunConfig(run.config);
  const iterations = await db().iteration.findMany({
    where: { runId },
    orderBy: { index: 'asc' },
    select: { index: true, queries: true, meanReward: true, knnAccuracy: true, wallMs: true },
  });
  const evaluations = await db().evaluation.findMany({ where: { runId } });
  const metric = (iteration: number, name: string) =>
    evaluations.find((e) => e.iteration === iteration && e.metric === name)?.value ?? null;
  const images = await downloadedImages(runId, config.resultsPerQuery);
  const concepts = await bestQueriedConcepts(runId, bestConcepts);
  const diagnostics = await runDiagnostics(runId, targetClasses, (iteration) => {
    const relevant = new Map<string, boolean>();
    for (const image of images.get(iteration) ?? []) {
      const classes = image.urls.map((u) => labels.classOfUrl(u)).filter((c): c is string => c !== null);
      if (classes.length)
        relevant.set(
          image.sha256,
          classes.some((c) => targetClasses.has(c)),
        );
    }
    return relevant;
  });

  return {
    runId,
    mode: run.mode,
    status: runStatusOf(run.status),
    iterations: iterations.map((it) => {
      const relevance = relevancePrecision(images.get(it.index) ?? [], labels, targetClasses);
      return {
        iteration: it.index,
        queries: it.queries,
        downloaded: relevance.downloaded,
        relevant: relevance.relevant,
        unlabelled: relevance.unlabelled,
        precision: relevance.precision,
        knnAccuracy: metric(it.index, 'knn_accuracy') ?? it.knnAccuracy,
        linearProbeAccuracy: metric(it.index, 'linear_probe_accuracy'),
        meanReward: it.meanReward,
        bestConcepts: concepts.get(it.index) ?? [],
        wallMs: it.wallMs,
        ...(diagnostics.get(it.index) ?? {
          rewardAuc: null,
          nearQueries: null,
          mostLikely: [],
          nearMostLikely: null,
          gpRankCorrelation: null,
        }),
      };
    }),
  };
}
