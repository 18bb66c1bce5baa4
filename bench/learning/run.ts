/**
 * One benchmark: Internet Explorer and the random-exploration baseline run with the same budget on one
 * target, then every iteration of both is scored against the corpus's labels and reported.
 */
import type { Client } from '@temporalio/client';
import { parseRunConfig, type RunConfig, type RunConfigInput } from '../../lib/config';
import { logger } from '../../lib/logger';
import type { IterationSummary } from '../../lib/contract';
import { listTarget } from '../../activities/target';
import { TargetError } from '../../lib/errors';
import { endedWell, followRun, linesView, startRun, waitingRetryText } from '../../lib/client';
import { pct } from '../../lib/format';
import { collectArmFigures } from './figures';
import { writeHtmlReport } from './html';
import {
  ARMS,
  compareArms,
  formatSummary,
  writeTables,
  type Arm,
  type BenchmarkSummary,
  type Budget,
  type ReportFiles,
} from './report';
import { CorpusLabels, loadCorpusClasses, matchTargetClasses } from './relevance';
import { NO_INIT } from '../../lib/base-encoder';

export interface BenchmarkOptions {
  target: string;
  /** Any budget key left out takes the run config's default (lib/config.ts). */
  budget?: Partial<Budget>;
  /** The corpus manifest the search engine serves (its `meta.wnid` labels score relevance). */
  manifestPath: string;
  /** `classes.jsonl` naming the corpus classes; default: the datasets folder's. */
  classesPath?: string;
  /** Base URL of the search engine both arms query; default: the worker's IE_ENGINE_URL. */
  engineUrl?: string;
  /** Further run-config keys both arms share (e.g. a smaller training batch). */
  config?: Partial<RunConfigInput>;
  outDir: string;
  /** Run ids are `<idPrefix>-explore` and `<idPrefix>-random`. */
  idPrefix: string;
  print?: (line: string) => void;
  /**
   * Aborting it terminates both arms' workflows (a benchmark's runs serve nothing else, and left running they
   * would resume beside the next benchmark once the services start again); the report then holds what they
   * finished.
   */
  signal?: AbortSignal;
}

export interface BenchmarkResult {
  summary: BenchmarkSummary;
  files: ReportFiles;
  printed: string;
}

/** The run config of one arm: the shared budget and settings, differing only in `mode`. */
export function armConfig(opts: BenchmarkOptions, mode: Arm): RunConfig {
  const b = opts.budget ?? {};
  const input: Record<string, unknown> = { ...(opts.config ?? {}), target: opts.target, mode };
  if (b.iterations !== undefined) input.iterations = b.iterations;
  if (b.queriesPerIteration !== undefined) input.queriesPerIteration = b.queriesPerIteration;
  if (b.resultsPerQuery !== undefined) input.resultsPerQuery = b.resultsPerQuery;
  if (b.seed !== undefined) input.seed = b.seed;
  if (b.trainSteps !== undefined) input.train = { ...(opts.config?.train ?? {}), steps: b.trainSteps };
  if (opts.engineUrl) input.search = { ...(opts.config?.search ?? {}), baseUrl: opts.engineUrl };
  return parseRunConfig(input);
}

export function iterationLine(arm: Arm, h: IterationSummary): string {
  const top = h.topConcepts;
  // A uniform distribution (the random arm) has no top: its first names are only the first in sort order.
  const uniform = top.length > 1 && top.every((c) => c.probability === top[0].probability);
  const next = uniform
    ? `uniform over ${Math.round(1 / top[0].probability)} concepts`
    : top
        .slice(0, 3)
        .map((c) => c.concept)
        .join(', ');
  return `[${arm}] iteration ${h.iteration}: ${h.downloaded} images, kNN ${pct(h.knnAccuracy)}, ${(h.wallMs / 1000).toFixed(0)} s; next: ${next || '—'}`;
}

/**
 * Runs both arms at once (they share the workers, so neither gets more compute), then writes
 * `iterations.csv`, `summary.json` and `report.html` under `outDir` and returns the printed summary.
 * The target must have one subfolder per class, each naming a corpus class.
 */
export async function runBenchmark(client: Client, opts: BenchmarkOptions): Promise<BenchmarkResult> {
  const print = opts.print ?? (() => undefined);
  const listing = await listTarget(opts.target);
  if (listing.labels.length === 0) {
    throw new TargetError(
      `target ${listing.dir} has no class subfolders: the benchmark needs one subfolder per class, named by WordNet id or class name`,
    );
  }
  const matched = matchTargetClasses(listing.labels, loadCorpusClasses(opts.classesPath));
  const targetClasses = new Set(matched.values());
  const labels = await CorpusLabels.load(opts.manifestPath);
  const relevantInCorpus = labels.countClasses(targetClasses);
  if (relevantInCorpus === 0) {
    throw new TargetError(
      `the corpus ${opts.manifestPath} holds no image of the target's classes (${[...targetClasses].join(', ')}): precision would be 0 by construction`,
    );
  }
  const configs = { explore: armConfig(opts, 'explore'), random: armConfig(opts, 'random') };
  const c = configs.explore;
  const budget: Budget = {
    iterations: c.iterations,
    queriesPerIteration: c.queriesPerIteration,
    resultsPerQuery: c.resultsPerQuery,
    trainSteps: c.train.steps,
    seed: c.seed,
    // null: random weights (train.initCheckpoint 'none').
    startingEncoder: c.train.initCheckpoint === NO_INIT ? null : c.train.initCheckpoint,
  };
  const startedAt = new Date().toISOString();
  const runIds = { explore: `${opts.idPrefix}-explore`, random: `${opts.idPrefix}-random` };
  const log = logger.child({ component: 'benchmark', runs: runIds });
  log.info({ budget, target: listing.dir, relevantInCorpus }, 'benchmark starting');
  print(
    `benchmark on ${listing.dir}: ${listing.labels.length} classes, ${relevantInCorpus} relevant images in the corpus; ` +
      `runs ${runIds.explore} and ${runIds.random}`,
  );
  opts.signal?.throwIfAborted();
  for (const arm of ARMS) await startRun(client, runIds[arm], configs[arm]);
  let terminating: Promise<unknown> | undefined;
  const terminate = (): void => {
    print('interrupted: terminating both arms');
    terminating ??= Promise.allSettled(
      ARMS.map((arm) => client.workflow.getHandle(runIds[arm]).terminate('ie benchmark was interrupted')),
    );
  };
  if (opts.signal?.aborted) terminate();
  opts.signal?.addEventListener('abort', terminate, { once: true });
  let followed;
  try {
    followed = await Promise.all(
      ARMS.map((arm) =>
        // A failed iteration leaves the run waiting for a retry by hand: the benchmark reports what it has.
        followRun(client, runIds[arm], linesView(print, { format: (h) => iterationLine(arm, h), stages: false }), {
          intervalMs: 3000,
        }),
      ),
    );
  } finally {
    opts.signal?.removeEventListener('abort', terminate);
    await terminating;
  }
  const failed = ARMS.filter((arm, i) => {
    const f = followed[i];
    if (endedWell(f)) return false;
    const why = f.waiting
      ? waitingRetryText(runIds[arm], f.waiting)
      : (f.progress?.error ?? f.failure ?? `Temporal status ${f.execution}`);
    print(`[${arm}] run failed: ${why}`);
    return true;
  }).length;

  const arms = {
    explore: await collectArmFigures(runIds.explore, 'explore', labels, targetClasses),
    random: await collectArmFigures(runIds.random, 'random', labels, targetClasses),
  };
  const summary: BenchmarkSummary = {
    target: listing.dir,
    targetClasses: Object.fromEntries(matched),
    relevantInCorpus,
    corpus: opts.manifestPath,
    budget,
    startedAt,
    finishedAt: new Date().toISOString(),
    arms,
    goals: compareArms(arms.explore, arms.random),
  };
  const printed = formatSummary(summary);
  const tables = await writeTables(opts.outDir, summary);
  const html = await writeHtmlReport(opts.outDir, summary, printed);
  log.info({ goals: summary.goals, outDir: opts.outDir }, 'benchmark finished');
  if (failed) print(`${failed} arm(s) failed; the report holds the iterations they finished`);
  return { summary, files: { ...tables, html }, printed };
}
