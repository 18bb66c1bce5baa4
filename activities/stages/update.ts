import path from 'node:path';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { float32ToBytes } from '../../lib/bytes';
import { ensureConceptFeatures } from '../concepts/run-embeddings';
import { conceptDistribution, topConcepts, weightByFindChance, type EmbeddingGroups } from '../concepts/distribution';
import { fitConceptGp, fitFindChance, type GpFit } from '../concepts/gp';
import { loadConceptEmbeddings } from '../concepts/embeddings-cache';
import { distributionGroups, type ClassGrouping } from '../concepts/class-groups';
import { loadRunVocabulary, restrictToRun } from '../concepts/run-concepts';
import { dropEarlierCopies, iterationFiles } from '../iteration-files';
import { foundFlags, latestRewards } from '../score/evidence';
import { TOP_MASS_KS, distributionStats } from '../../lib/distribution-stats';
import { DISTRIBUTION_TOP, type StageRef, type TopConcept } from '../../lib/contract';
import { temperatureOverride } from '../run-records';
import { yieldToEventLoop } from '../../lib/yield';

/** Groups of the embedding files used last (a worker serves a handful of runs; each may have its own file). */
const groupsByFile = new Map<string, Promise<EmbeddingGroups>>();
const GROUP_FILES_KEPT = 4;

/**
 * The distribution's points for an embedding file (activities/concepts/class-groups.ts), computed once per
 * file and grouping setting, off the event loop. The file stands for its names: its name
 * carries the vocabulary's size and a digest of the concepts runs added (embeddings-cache.ts).
 */
function groupsOf(
  file: string,
  dim: number,
  names: readonly string[],
  grouping: ClassGrouping,
): Promise<EmbeddingGroups> {
  const key = `${grouping.instances}:${grouping.taxa}:${file}`;
  let groups = groupsByFile.get(key);
  if (!groups) {
    groups = loadConceptEmbeddings(file).then((rows) => distributionGroups(rows, dim, names, grouping));
    groups.catch(() => groupsByFile.delete(key));
    groupsByFile.set(key, groups);
    if (groupsByFile.size > GROUP_FILES_KEPT) groupsByFile.delete(groupsByFile.keys().next().value as string);
  }
  return groups;
}

/** Concepts this run has queried up to and including this iteration. */
async function queriedConcepts(ref: StageRef): Promise<number[]> {
  const rows = await db().query.findMany({
    where: { runId: ref.runId, iteration: { lte: ref.iteration } },
    select: { conceptId: true },
    distinct: ['conceptId'],
  });
  return rows.map((r) => r.conceptId);
}

/**
 * Learns which concepts pay off: fits the GP on the latest standardised reward of every concept queried so
 * far that found an image (`gp.emptyConcepts`; a bounded subset rescored by this iteration's encoder, the
 * rest as last scored) and stores the next iteration's distribution p(c) ∝ exp(r̂(c)/τ) with its statistics
 * (with `gp.emptyConcepts` `discount`, weighted by a second GP's chance that c finds any image).
 * In `random` mode the distribution stays uniform (the baseline). Its cost grows with the concepts queried,
 * capped by the vocabulary; the GP bounds its own (trainer/ietrainer/gp.py), and `discount` fits a second one
 * under the same bounds.
 */
export async function updateDistribution(
  ref: StageRef,
): Promise<{ temperature: number | null; observed: number; topConcepts: TopConcept[] }> {
  const run = await loadRun(ref.runId);
  return runStage('update', ref, async (ctx) => {
    const runVocabulary = await loadRunVocabulary(ref.runId);
    const vocabulary = runVocabulary.names;
    // Every concept queried so far (unless `gp.emptyConcepts` is 'lowest': that found an image), with its
    // standardised reward when last scored (activities/score/evidence.ts).
    const observed = await latestRewards(ref.runId, { foundOnly: run.config.gp.emptyConcepts !== 'lowest' });
    let predicted: Float32Array = new Float32Array(vocabulary.length);
    let temperature: number | null = null;
    let probs: Float64Array;
    let fit: Pick<GpFit, 'lengthScale' | 'noise' | 'blockWeights'> = {
      lengthScale: null,
      noise: null,
      blockWeights: null,
    };
    if (run.config.mode === 'random' || observed.length < 2) {
      probs = new Float64Array(vocabulary.length).fill(1 / vocabulary.length);
    } else {
      // The same vocabulary as the distribution's names below, read once.
      const embeddings = await ensureConceptFeatures(runVocabulary, run.config);
      const gp = await fitConceptGp({
        embeddingsPath: embeddings.path,
        dim: embeddings.dim,
        blocks: embeddings.blocks,
        ids: observed.map((o) => o.conceptId),
        rewards: observed.map((o) => o.standardised),
        workDir: iterationFiles(ref).gpDir,
        python: run.config.train.python,
        exactLimit: run.config.gp.exactLimit,
        inducingPoints: run.config.gp.inducingPoints,
        signal: ctx.signal,
        onProgress: (progress) => ctx.heartbeat({ gp: progress }),
      });
      predicted = gp.predicted;
      // With taxonomyWeight 'fit', the text and taxonomy parts' fitted shares (logged, not stored).
      fit = { lengthScale: gp.lengthScale, noise: gp.noise, blockWeights: gp.blockWeights };
      // Without descriptors a concept's query text never changes, so asking it again returns the images
      // already downloaded: the next draw goes to concepts not yet queried.
      const queried = run.config.descriptors === 'none' ? await queriedConcepts(ref) : [];
      ({ probs, temperature } = await conceptDistribution({
        predicted,
        excluded: queried,
        groups: await groupsOf(embeddings.path, embeddings.dim, vocabulary, run.config.concepts),
        member: runVocabulary.member,
        fixedTemperature: (await temperatureOverride(ref.runId, ref.iteration)) ?? run.config.temperature.fixed,
        topK: run.config.temperature.topK,
        topMass: run.config.temperature.topMass,
      }));
      if (run.config.gp.emptyConcepts === 'discount') {
        const chance = await fitFindChance({
          embeddingsPath: embeddings.path,
          dim: embeddings.dim,
          blocks: embeddings.blocks,
          queried: await foundFlags(ref.runId),
          workDir: path.join(iterationFiles(ref).gpDir, 'found'),
          python: run.config.train.python,
          exactLimit: run.config.gp.exactLimit,
          inducingPoints: run.config.gp.inducingPoints,
          signal: ctx.signal,
          onProgress: (progress) => ctx.heartbeat({ gpFound: progress }),
        });
        await yieldToEventLoop();
        probs = weightByFindChance(probs, chance);
      }
    }
    // Each pass over the vocabulary below takes a tenth of a second or so; between them the event loop gets
    // a turn, so a loaded machine's heartbeats never wait for all of them together.
    await yieldToEventLoop();
    // Concepts other runs added are not this run's to draw.
    probs = restrictToRun(probs, runVocabulary);
    await yieldToEventLoop();
    const top: TopConcept[] = topConcepts(probs, DISTRIBUTION_TOP).map((id) => ({
      concept: vocabulary[id],
      probability: probs[id],
    }));
    await yieldToEventLoop();
    const stats = distributionStats(probs, TOP_MASS_KS);
    await yieldToEventLoop();
    const row = {
      temperature,
      predicted: float32ToBytes(predicted),
      probs: float32ToBytes(Float32Array.from(probs)),
      lengthScale: fit.lengthScale,
      noise: fit.noise,
      observed: observed.length,
      topConcepts: top as unknown as object,
      stats: stats as unknown as object,
    };
    await db().distribution.upsert({
      where: { runId_iteration: { runId: ref.runId, iteration: ref.iteration } },
      create: { runId: ref.runId, iteration: ref.iteration, ...row },
      update: row,
      // Not the row back: decoding its two vocabulary-long byte columns held the event loop for half a second.
      select: { iteration: true },
    });
    ctx.log.info(
      { observed: observed.length, temperature, ...fit, top: top.slice(0, 5).map((t) => t.concept) },
      'distribution updated',
    );
    await dropEarlierCopies(ref.runId, ref.iteration);
    return { temperature, observed: observed.length, topConcepts: top };
  });
}
