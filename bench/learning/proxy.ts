/**
 * An offline proxy of exploration against random queries, in seconds per run instead of minutes, for
 * trying a change to the concept features, the GP's evidence or the distribution before spending real
 * benchmarks on it.
 *
 * What is real: the local engine's ranking over the corpus captions (engine/search-index.ts), the run
 * config's concept features, the GP, the reward aggregation (activities/score/run-rewards.ts) and the
 * distribution (activities/concepts/distribution.ts). What is not: there is no download, training or
 * scoring. An image's reward is either synthetic (`--rewards synthetic`, the default): d·[its class is a
 * target class] + N(0, 1) seeded by its key, with d = √2·Φ⁻¹(AUC) so that rewards separate target images
 * from the rest with the given AUC (the benchmark measures 0.65–0.75 on object targets, 0.85 on
 * landscapes), which says how well the exploration uses a reward of that quality and nothing of the
 * encoder; or the score stage's reward in a checkpoint's feature space (`--rewards encoder`,
 * encoder-rewards.ts), which carries the encoder's confusions between classes but does not improve over the
 * iterations as a run's trained encoder does. Precision is the share of an iteration's distinct found
 * images whose class is a target class, as in `ie benchmark`.
 *
 *   node --import tsx bench/learning/proxy.ts --target DIR [--seeds 0,1,2] [--rewards synthetic|encoder]
 *     [--auc 0.7] [--checkpoint FILE] [--iterations 5]
 *     [--queries 256] [--results 50] [--set key=value]... [--verbose]
 *
 * `--set` takes run config keys (e.g. concepts.taxonomyWeight=0, gp.emptyConcepts=lowest,
 * temperature.topMass=0.8). Cost: one GP fit per iteration and seed (seconds), and one engine query per
 * concept drawn; the corpus index is built once (about 20 s); encoder rewards embed the corpus once per
 * checkpoint (cached).
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { loadManifest, type ManifestRecord } from '../../engine/corpus';
import { ensureDefaultCorpus } from '../../engine/build-corpus';
import { openSearchIndex } from '../../engine/index-cache';
import { loadVocabulary } from '../../activities/concepts/vocabulary';
import { ensureConceptFeatures } from '../../activities/concepts/run-embeddings';
import { loadConceptEmbeddings } from '../../activities/concepts/embeddings-cache';
import {
  conceptDistribution,
  sampleUniform,
  sampleWithoutReplacement,
  topConcepts,
  weightByFindChance,
  type EmbeddingGroups,
} from '../../activities/concepts/distribution';
import { fitConceptGp, fitFindChance } from '../../activities/concepts/gp';
import { distributionGroups } from '../../activities/concepts/class-groups';
import { seededRandom } from '../../activities/concepts/prng';
import { runConceptRewards } from '../../activities/score/run-rewards';
import { listTarget } from '../../activities/target';
import { parseAssignments } from '../../lib/config-file';
import { parseRunConfig, type RunConfig } from '../../lib/config';
import { stateDir } from '../../lib/paths';
import { loadNouns, nearConcepts } from '../../lib/wordnet';
import { loadCorpusClasses, matchTargetClasses } from './relevance';
import { spread } from './seeds';
import { rocAuc } from './diagnostics';
import { encoderRewards } from './encoder-rewards';
import { BENCHMARK_PRETRAIN_STEPS, baseEncoderCheckpoint } from '../../lib/base-encoder';

/** The standard normal quantile Φ⁻¹(p), by Acklam's rational approximation (relative error below 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`a probability in (0, 1) is needed, got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + 2.938163982698783) /
    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + 2.506628274631) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/** The synthetic reward of an image: `signal` if it is relevant, plus standard normal noise seeded by its key. */
export function syntheticReward(key: string, relevant: boolean, signal: number): number {
  const random = seededRandom(`proxy-reward:${key}`);
  const u = Math.max(random(), Number.MIN_VALUE);
  return (relevant ? signal : 0) + Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

interface Found {
  key: string;
  relevant: boolean;
}

interface IterationFigures {
  precision: number;
  images: number;
  /** Share of the 10 most likely concepts afterwards near a target class (explore only). */
  nearTop10: number | null;
  top: string[];
}

interface ArmOptions {
  config: RunConfig;
  seed: number;
  reward(key: string, relevant: boolean): number;
  vocabulary: string[];
  search(conceptId: number): Found[];
  near(concept: string): boolean;
  features: { path: string; dim: number; blocks?: number[] };
  groups: EmbeddingGroups;
  workDir: string;
}

/** One arm's iterations: uniform draws (random), or draws from the GP's distribution (explore). */
async function runArm(mode: 'explore' | 'random', o: ArmOptions): Promise<IterationFigures[]> {
  const { config } = o;
  const queried: number[] = [];
  const candidates: { conceptId: number; sha256: string }[] = [];
  const rewardOf = new Map<string, number>();
  let probs: Float64Array | null = null;
  const out: IterationFigures[] = [];
  for (let iteration = 0; iteration < config.iterations; iteration++) {
    const drawSeed = `proxy:${mode}:${o.seed}:${iteration}`;
    const draw = probs
      ? sampleWithoutReplacement(probs, config.queriesPerIteration, drawSeed)
      : sampleUniform(o.vocabulary.length, config.queriesPerIteration, drawSeed);
    const seen = new Map<string, boolean>();
    for (const conceptId of draw) {
      for (const image of o.search(conceptId)) {
        seen.set(image.key, image.relevant);
        candidates.push({ conceptId, sha256: image.key });
        rewardOf.set(image.key, o.reward(image.key, image.relevant));
      }
    }
    queried.push(...draw);
    const relevant = [...seen.values()].filter(Boolean).length;
    const figures: IterationFigures = {
      precision: seen.size ? relevant / seen.size : 0,
      images: seen.size,
      nearTop10: null,
      top: [],
    };
    if (mode === 'explore') {
      const rewards = runConceptRewards(
        candidates,
        queried.map((conceptId) => ({ conceptId })),
        rewardOf,
        iteration,
      );
      const keep = rewards.ids
        .map((_, i) => i)
        .filter((i) => config.gp.emptyConcepts === 'lowest' || rewards.images[i] > 0);
      if (keep.length >= 2) {
        const gp = await fitConceptGp({
          embeddingsPath: o.features.path,
          dim: o.features.dim,
          blocks: o.features.blocks,
          ids: keep.map((i) => rewards.ids[i]),
          rewards: keep.map((i) => rewards.standardised[i]),
          workDir: o.workDir,
          exactLimit: config.gp.exactLimit,
          inducingPoints: config.gp.inducingPoints,
        });
        probs = (
          await conceptDistribution({
            predicted: gp.predicted,
            excluded: config.descriptors === 'none' ? queried : [],
            groups: o.groups,
            fixedTemperature: config.temperature.fixed,
            topK: config.temperature.topK,
            topMass: config.temperature.topMass,
          })
        ).probs;
        if (config.gp.emptyConcepts === 'discount') {
          const chance = await fitFindChance({
            embeddingsPath: o.features.path,
            dim: o.features.dim,
            blocks: o.features.blocks,
            queried: rewards.ids.map((conceptId, i) => ({ conceptId, found: rewards.images[i] > 0 })),
            workDir: path.join(o.workDir, 'found'),
            exactLimit: config.gp.exactLimit,
            inducingPoints: config.gp.inducingPoints,
          });
          probs = weightByFindChance(probs, chance);
        }
        const top = topConcepts(probs, 10).map((id) => o.vocabulary[id]);
        figures.top = top;
        figures.nearTop10 = top.filter((name) => o.near(name)).length / top.length;
      }
    }
    out.push(figures);
  }
  return out;
}

/** Where the target classes rank among the corpus classes by their images' mean reward (1 = highest). */
function classRanks(
  records: readonly ManifestRecord[],
  rewards: Map<string, number>,
  targets: Set<string>,
  names: Map<string, string>,
): string {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const r of records) {
    const wnid = String(r.meta?.wnid);
    const value = rewards.get(r.key);
    if (value === undefined || !Number.isFinite(value)) continue;
    const s = sums.get(wnid) ?? { sum: 0, n: 0 };
    s.sum += value;
    s.n += 1;
    sums.set(wnid, s);
  }
  // Classes with at least 10 images: the full-size photos are one per class.
  const ranked = [...sums.entries()]
    .filter(([, s]) => s.n >= 10)
    .map(([wnid, s]) => ({ wnid, mean: s.sum / s.n }))
    .sort((a, b) => b.mean - a.mean);
  const ranks = ranked.flatMap((c, i) => (targets.has(c.wnid) ? [i + 1] : []));
  const above = ranked
    .slice(0, 10)
    .filter((c) => !targets.has(c.wnid))
    .map((c) => names.get(c.wnid) ?? c.wnid);
  return (
    `target classes' ranks among ${ranked.length} corpus classes by mean reward: ${ranks.join(', ')}; ` +
    `others in the top 10: ${above.join(', ') || 'none'}`
  );
}

const median = (values: number[]): number => spread(values).median ?? NaN;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(1)}×` : a > 0 ? 'unbounded' : '—');

async function main(): Promise<void> {
  const program = new Command('proxy')
    .description(
      'offline proxy of exploration against random queries: real engine ranking and GP, synthetic or encoder rewards',
    )
    .requiredOption('--target <dir>', 'target folder, one subfolder per class (named as for ie benchmark)')
    .option('--seeds <list>', 'seeds, comma-separated', '0,1,2')
    .option(
      '--rewards <kind>',
      "image rewards: 'synthetic' (of --auc) or 'encoder' (the score stage's, with --checkpoint)",
      'synthetic',
    )
    .option('--auc <x>', 'AUC of the synthetic image rewards (target images against the rest)', '0.7')
    .option('--checkpoint <file>', "encoder of --rewards encoder (default: the benchmark's starting encoder)")
    .option('--iterations <n>', 'iterations per arm')
    .option('--queries <n>', 'queries per iteration')
    .option('--results <n>', 'results per query')
    .option('--manifest <file>', 'corpus manifest (default: the default corpus)')
    .option(
      '--set <key=value>',
      'run config key, e.g. concepts.taxonomyWeight=0 (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--verbose', 'print every iteration of every seed');
  program.parse();
  const flags = program.opts<{
    target: string;
    seeds: string;
    rewards: string;
    auc: string;
    checkpoint?: string;
    iterations?: string;
    queries?: string;
    results?: string;
    manifest?: string;
    set?: string[];
    verbose?: boolean;
  }>();
  if (flags.rewards !== 'synthetic' && flags.rewards !== 'encoder')
    throw new RangeError(`--rewards must be 'synthetic' or 'encoder', got '${flags.rewards}'`);
  const auc = Number(flags.auc);
  if (!(auc > 0.5 && auc < 1)) throw new RangeError(`--auc must be in (0.5, 1), got ${flags.auc}`);
  const seeds = flags.seeds.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new RangeError(`--seeds: '${s}' is not an integer`);
    return n;
  });
  const layers = parseAssignments(flags.set ?? []);
  const budget = {
    ...(flags.iterations ? { iterations: Number(flags.iterations) } : {}),
    ...(flags.queries ? { queriesPerIteration: Number(flags.queries) } : {}),
    ...(flags.results ? { resultsPerQuery: Number(flags.results) } : {}),
  };
  const config = parseRunConfig({ ...layers, ...budget, target: path.resolve(flags.target) });

  const listing = await listTarget(config.target);
  const corpusClasses = loadCorpusClasses();
  const targetClasses = new Set(matchTargetClasses(listing.labels, corpusClasses).values());
  const manifestPath = flags.manifest ?? (await ensureDefaultCorpus());
  const records: ManifestRecord[] = await loadManifest(manifestPath);
  const { index } = await openSearchIndex(manifestPath, records);
  const vocabulary = loadVocabulary();
  const features = await ensureConceptFeatures({ names: vocabulary, wordnetCount: vocabulary.length }, config);
  const groups = await distributionGroups(
    await loadConceptEmbeddings(features.path),
    features.dim,
    vocabulary,
    config.concepts,
  );
  const near = nearConcepts(loadNouns(), targetClasses);
  const results = new Map<number, Found[]>();
  const search = (conceptId: number): Found[] => {
    let found = results.get(conceptId);
    if (!found) {
      found = index.search(vocabulary[conceptId], 0, config.resultsPerQuery).records.map((r) => ({
        key: r.key,
        relevant: targetClasses.has(String(r.meta?.wnid)),
      }));
      results.set(conceptId, found);
    }
    return found;
  };
  let reward: (key: string, relevant: boolean) => number;
  let rewardText: string;
  if (flags.rewards === 'encoder') {
    const checkpoint = flags.checkpoint ?? baseEncoderCheckpoint(config.train.preset, BENCHMARK_PRETRAIN_STEPS);
    if (!existsSync(checkpoint))
      throw new Error(
        `no encoder at ${checkpoint}: build the benchmark's starting encoder with ` +
          `\`ie pretrain --steps ${BENCHMARK_PRETRAIN_STEPS}\`, or give --checkpoint`,
      );
    const byKey = await encoderRewards({
      checkpoint,
      records,
      targetImages: listing.files.map((f) => f.path),
      reward: config.score.reward,
      k: config.score.k,
      webSample: config.score.webSample,
      log: (line) => console.log(line),
    });
    reward = (key) => byKey.get(key) ?? NaN;
    const relevant = records.map((r) => targetClasses.has(String(r.meta?.wnid)));
    const corpusAuc = rocAuc(
      records.map((r) => byKey.get(r.key) ?? NaN),
      relevant,
    );
    rewardText = `${config.score.reward} rewards of ${path.basename(checkpoint)} (corpus AUC ${corpusAuc?.toFixed(3)})`;
    console.log(classRanks(records, byKey, targetClasses, new Map(corpusClasses.map((c) => [c.wnid, c.name]))));
  } else {
    const signal = Math.SQRT2 * normalQuantile(auc);
    reward = (key, relevant) => syntheticReward(key, relevant, signal);
    rewardText = `synthetic rewards of AUC ${auc}`;
  }
  const workDir = path.join(stateDir(), 'proxy', `gp-${process.pid}`);

  console.log(
    `proxy on ${config.target} (${targetClasses.size} classes), ${rewardText}, ${config.iterations} iterations × ` +
      `${config.queriesPerIteration} queries × ${config.resultsPerQuery} results, features ${features.encoder}, ` +
      `empty concepts: ${config.gp.emptyConcepts}`,
  );
  const rows: { seed: number; last: number; pooled: number; near: number; lastRandom: number; pooledRandom: number }[] =
    [];
  try {
    for (const seed of seeds) {
      const common = { config, seed, reward, vocabulary, search, near, features, groups, workDir };
      const explore = await runArm('explore', common);
      const random = await runArm('random', common);
      // As `ie benchmark` reports them: the last iteration, and pooled over every iteration after the first.
      const pooled = (arm: IterationFigures[]) => {
        const later = arm.slice(1);
        const images = later.reduce((s, it) => s + it.images, 0);
        return images ? later.reduce((s, it) => s + it.precision * it.images, 0) / images : 0;
      };
      const last = explore.length - 1;
      const row = {
        seed,
        last: explore[last].precision,
        lastRandom: random[last].precision,
        pooled: pooled(explore),
        pooledRandom: pooled(random),
        near: explore[last].nearTop10 ?? 0,
      };
      rows.push(row);
      console.log(
        `seed ${seed}: last iteration ${pct(row.last)} / ${pct(row.lastRandom)} = ${ratio(row.last, row.lastRandom)}, ` +
          `pooled ${pct(row.pooled)} / ${pct(row.pooledRandom)} = ${ratio(row.pooled, row.pooledRandom)}, ` +
          `near top 10 ${pct(row.near)}, explore images ${explore.map((it) => it.images).join(' ')}`,
      );
      if (flags.verbose) {
        explore.forEach((it, i) =>
          console.log(
            `  ${i}: ${pct(it.precision)} of ${it.images} (random ${pct(random[i].precision)} of ${random[i].images}); ` +
              `next: ${it.top.slice(0, 5).join(', ')}`,
          ),
        );
      }
    }
    console.log(
      `median over seeds ${seeds.join(', ')}: last iteration explore ${pct(median(rows.map((r) => r.last)))}, ` +
        `random ${pct(median(rows.map((r) => r.lastRandom)))}; pooled explore ${pct(median(rows.map((r) => r.pooled)))}, ` +
        `random ${pct(median(rows.map((r) => r.pooledRandom)))}; near top 10 ${pct(median(rows.map((r) => r.near)))}`,
    );
  } finally {
    // The GP's work files of this process: nothing to keep once the figures are printed.
    await rm(workDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
