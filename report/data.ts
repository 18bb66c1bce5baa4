import { db, runStatusOf } from '../lib/db';
import { BadInputError } from '../lib/errors';
import { float32FromBytes } from '../lib/bytes';
import { TOP_MASS_KS, distributionStats, uniformStats, type DistributionStats } from '../lib/distribution-stats';
import { gridIterations, sampleByHash } from './sample';

/** The run does not exist, or has nothing to report yet. */
export class ReportError extends BadInputError {
  override readonly name = 'ReportError';
}

export interface IterationRow {
  index: number;
  status: string;
  stage: string;
  queries: number;
  results: number;
  downloaded: number;
  failed: number;
  kept: number;
  meanReward: number | null;
  knnAccuracy: number | null;
  trainLoss: number | null;
  wallMs: number | null;
}

export interface ConceptRow {
  concept: string;
  reward: number;
  images: number;
}

/** The distribution an iteration sampled its queries from (iteration i+1 samples from the one iteration i chose). */
export interface SamplingDistribution extends DistributionStats {
  iteration: number;
  temperature: number | null;
  /** Its most likely concepts, from what the update stage recorded. */
  top: { concept: string; probability: number }[];
}

export interface GridImage {
  sha256: string;
  path: string | null;
  concept: string | null;
  reward: number | null;
}

export interface ImageGrid {
  /** null: the target set. */
  iteration: number | null;
  /** Images the iteration downloaded (candidates) of which `images` is a sample. */
  population: number;
  images: GridImage[];
}

export interface ReportData {
  run: {
    id: string;
    mode: string;
    status: string;
    createdAt: Date;
    targetDir: string;
    targetCount: number;
    hasLabels: boolean;
    labelNames: string[];
    config: unknown;
    vocabulary: number;
  };
  iterations: IterationRow[];
  evaluations: { iteration: number; metric: string; value: number }[];
  stageTimings: { iteration: number; stage: string; ms: number; dbMs: number }[];
  /** Per iteration, the queried concepts whose images scored best (not the distribution's most likely). */
  bestConcepts: { iteration: number; concepts: ConceptRow[] }[];
  distributions: SamplingDistribution[];
  grids: ImageGrid[];
}

export interface LoadOptions {
  /** Concepts listed per iteration. */
  bestConcepts?: number;
  /** Images per grid. */
  gridSize?: number;
}

/** Everything the report shows, read from PostgreSQL. */
export async function loadReportData(runId: string, options: LoadOptions = {}): Promise<ReportData> {
  const topN = options.bestConcepts ?? 10;
  const gridSize = options.gridSize ?? 24;
  // Explicit selects: the report reads only what it shows.
  const run = await db().run.findUnique({
    where: { id: runId },
    select: {
      id: true,
      mode: true,
      status: true,
      createdAt: true,
      targetDir: true,
      targetCount: true,
      hasLabels: true,
      labelNames: true,
      config: true,
    },
  });
  if (!run) {
    const recent = await db().run.findMany({ select: { id: true }, orderBy: { createdAt: 'desc' }, take: 5 });
    throw new ReportError(
      `no run '${runId}' in the database` +
        (recent.length
          ? `; recent runs: ${recent.map((r) => r.id).join(', ')} (ie list shows all)`
          : ' (it has no runs)'),
    );
  }
  const iterations = await db().iteration.findMany({
    where: { runId },
    orderBy: { index: 'asc' },
    select: {
      index: true,
      status: true,
      stage: true,
      queries: true,
      results: true,
      downloaded: true,
      failed: true,
      kept: true,
      meanReward: true,
      knnAccuracy: true,
      trainLoss: true,
      wallMs: true,
    },
  });
  if (!iterations.length)
    throw new ReportError(
      `run '${runId}' has no iterations yet (status ${runStatusOf(run.status)}); report again once one has started`,
    );

  const [evaluations, stageTimings, distributionRows, vocabulary] = await Promise.all([
    db().evaluation.findMany({
      where: { runId },
      orderBy: [{ iteration: 'asc' }, { metric: 'asc' }],
      select: { iteration: true, metric: true, value: true },
    }),
    db().stageTiming.findMany({
      where: { runId },
      orderBy: [{ iteration: 'asc' }, { startedAt: 'asc' }],
      select: { iteration: true, stage: true, ms: true, dbMs: true },
    }),
    distributionsOf(runId),
    db().concept.count(),
  ]);

  return {
    run: {
      id: run.id,
      mode: run.mode,
      status: runStatusOf(run.status),
      createdAt: run.createdAt,
      targetDir: run.targetDir,
      targetCount: run.targetCount,
      hasLabels: run.hasLabels,
      labelNames: run.labelNames,
      config: run.config,
      vocabulary,
    },
    iterations: iterations.map((it) => ({
      index: it.index,
      status: it.status,
      stage: it.stage,
      queries: it.queries,
      results: it.results,
      downloaded: it.downloaded,
      failed: it.failed,
      kept: it.kept,
      meanReward: it.meanReward,
      knnAccuracy: it.knnAccuracy,
      trainLoss: it.trainLoss,
      wallMs: it.wallMs,
    })),
    evaluations: evaluations.map((e) => ({ iteration: e.iteration, metric: e.metric, value: e.value })),
    stageTimings: stageTimings.map((s) => ({ iteration: s.iteration, stage: s.stage, ms: s.ms, dbMs: s.dbMs })),
    bestConcepts: await loadBestConcepts(runId, topN),
    distributions: samplingDistributions(
      iterations.map((it) => it.index),
      distributionRows,
      vocabulary,
    ),
    grids: await loadGrids(
      runId,
      iterations.map((it) => it.index),
      gridSize,
    ),
  };
}

/** Per iteration, the best-scoring concepts: those whose images scored best (mean image reward). */
async function loadBestConcepts(runId: string, n: number): Promise<{ iteration: number; concepts: ConceptRow[] }[]> {
  const rows = await db().$queryRaw<{ iteration: number; concept: string; reward: number; images: number }[]>`
    SELECT r.iteration, c.name AS concept, r.reward, r.images FROM (
      SELECT *, row_number() OVER (PARTITION BY iteration ORDER BY reward DESC, "conceptId") AS place
      FROM "ConceptReward" WHERE "runId" = ${runId} AND images > 0
    ) r JOIN "Concept" c ON c.id = r."conceptId"
    WHERE r.place <= ${n} ORDER BY r.iteration, r.place`;
  const byIteration = new Map<number, ConceptRow[]>();
  for (const row of rows) {
    const list = byIteration.get(row.iteration) ?? [];
    list.push({ concept: row.concept, reward: Number(row.reward), images: Number(row.images) });
    byIteration.set(row.iteration, list);
  }
  return [...byIteration].map(([iteration, concepts]) => ({ iteration, concepts }));
}

type DistributionRow = {
  iteration: number;
  temperature: number | null;
  topConcepts: unknown;
  stats: DistributionStats;
};

/**
 * Each distribution's statistics: stored by the update stage; computed from the probabilities only for
 * distributions stored before they were (so the report reads one vocabulary-sized array per such row only).
 */
async function distributionsOf(runId: string): Promise<DistributionRow[]> {
  const rows = await db().distribution.findMany({
    where: { runId },
    orderBy: { iteration: 'asc' },
    select: { iteration: true, temperature: true, topConcepts: true, stats: true },
  });
  const missing = rows.filter((r) => r.stats === null).map((r) => r.iteration);
  const legacy = missing.length
    ? await db().distribution.findMany({
        where: { runId, iteration: { in: missing } },
        select: { iteration: true, probs: true },
      })
    : [];
  const computed = new Map(legacy.map((r) => [r.iteration, distributionStats(float32FromBytes(r.probs))]));
  return rows.map((r) => ({
    iteration: r.iteration,
    temperature: r.temperature,
    topConcepts: r.topConcepts,
    stats: (r.stats as unknown as DistributionStats | null) ?? (computed.get(r.iteration) as DistributionStats),
  }));
}

/**
 * The distribution each iteration sampled from: uniform at iteration 0; afterwards the one the previous
 * iteration's update stage chose. A random-mode run records uniform ones, so its line stays flat.
 */
function samplingDistributions(indices: number[], rows: DistributionRow[], vocabulary: number): SamplingDistribution[] {
  const chosenBy = new Map(rows.map((r) => [r.iteration, r]));
  const out: SamplingDistribution[] = [];
  // Also the distribution the last iteration chose, which the next iteration (if any) would sample.
  const last = Math.max(...indices) + 1;
  for (const iteration of [...indices, ...(chosenBy.has(last - 1) ? [last] : [])]) {
    if (iteration === 0) {
      const n = vocabulary;
      if (n) out.push({ iteration, temperature: null, top: [], ...uniformStats(n, TOP_MASS_KS) });
      continue;
    }
    const row = chosenBy.get(iteration - 1);
    if (!row) continue;
    out.push({
      iteration,
      temperature: row.temperature,
      top: Array.isArray(row.topConcepts) ? (row.topConcepts as { concept: string; probability: number }[]) : [],
      ...row.stats,
    });
  }
  return out;
}

/** Samples of the target and of the downloads of the first, middle and last iteration. */
async function loadGrids(runId: string, indices: number[], size: number): Promise<ImageGrid[]> {
  const targets = await db().$queryRaw<{ sha256: string; path: string | null }[]>`
    SELECT t.sha256, i.path FROM "TargetImage" t LEFT JOIN "Image" i ON i.sha256 = t.sha256
    WHERE t."runId" = ${runId} ORDER BY t.idx`;
  const grids: ImageGrid[] = [
    {
      iteration: null,
      population: targets.length,
      images: sampleByHash(targets, size, (t) => t.sha256, `${runId}/target`).map((t) => ({
        ...t,
        concept: null,
        reward: null,
      })),
    },
  ];
  for (const iteration of gridIterations(indices)) {
    // One row per image: the concept whose query ranked it highest, and its reward in this iteration.
    const candidates = await db().$queryRaw<GridImage[]>`
      SELECT DISTINCT ON (c.sha256) c.sha256, i.path, k.name AS concept, r.reward
      FROM "Candidate" c
      LEFT JOIN "Image" i ON i.sha256 = c.sha256
      LEFT JOIN "Concept" k ON k.id = c."conceptId"
      LEFT JOIN "ImageReward" r ON r."runId" = c."runId" AND r.iteration = c.iteration AND r.sha256 = c.sha256
      WHERE c."runId" = ${runId} AND c.iteration = ${iteration}
      ORDER BY c.sha256, c.rank, c."conceptId"`;
    grids.push({
      iteration,
      population: candidates.length,
      images: sampleByHash(candidates, size, (c) => c.sha256, `${runId}/${iteration}`).map((c) => ({
        ...c,
        reward: c.reward === null ? null : Number(c.reward),
      })),
    });
  }
  return grids;
}
