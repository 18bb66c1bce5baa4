import path from 'node:path';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { float32ToBytes } from '../bytes';
import { ensureRunConceptEmbeddings } from '../concepts/run-embeddings';
import { softmax, temperatureForTopMass, topConcepts } from '../concepts/distribution';
import { fitConceptGp } from '../concepts/gp';
import { loadRunVocabulary, restrictToRun } from '../concepts/run-concepts';
import { iterationDir } from './train';
import { DISTRIBUTION_TOP, type StageRef, type TopConcept } from '../../workflows/types';
import { temperatureOverride } from './control';

/**
 * Learns which concepts pay off: fits the GP on every concept reward observed so far in the run
 * (standardised per iteration) and stores the next iteration's distribution p(c) ∝ exp(r̂(c)/τ).
 * In `random` mode the distribution stays uniform (the baseline).
 */
export async function updateDistribution(
  ref: StageRef,
): Promise<{ temperature: number | null; observed: number; topConcepts: TopConcept[] }> {
  const run = await loadRun(ref.runId);
  return runStage('update', ref, async (ctx) => {
    const runVocabulary = await loadRunVocabulary(ref.runId);
    const vocabulary = runVocabulary.names;
    const observed = await db().conceptReward.findMany({
      where: { runId: ref.runId, iteration: { lte: ref.iteration } },
      select: { conceptId: true, standardised: true },
    });
    let predicted: Float32Array = new Float32Array(vocabulary.length);
    let temperature: number | null = null;
    let probs: Float64Array;
    let fit: { lengthScale: number | null; noise: number | null } = { lengthScale: null, noise: null };
    if (run.config.mode === 'random' || observed.length < 2) {
      probs = new Float64Array(vocabulary.length).fill(1 / vocabulary.length);
    } else {
      const embeddings = await ensureRunConceptEmbeddings(ref.runId, run.config);
      const gp = await fitConceptGp({
        embeddingsPath: embeddings.path,
        dim: embeddings.dim,
        ids: observed.map((o) => o.conceptId),
        rewards: observed.map((o) => o.standardised),
        workDir: path.join(iterationDir(ref.runId, ref.iteration), 'gp'),
        python: run.config.train.python,
      });
      predicted = gp.predicted;
      fit = { lengthScale: gp.lengthScale, noise: gp.noise };
      temperature =
        (await temperatureOverride(ref.runId, ref.iteration)) ??
        run.config.temperature.fixed ??
        temperatureForTopMass(predicted, run.config.temperature.topK, run.config.temperature.topMass);
      if (!Number.isFinite(temperature)) temperature = null;
      probs =
        temperature === null
          ? new Float64Array(vocabulary.length).fill(1 / vocabulary.length)
          : softmax(predicted, temperature);
    }
    // Concepts other runs added are not this run's to draw.
    probs = restrictToRun(probs, runVocabulary);
    const top: TopConcept[] = topConcepts(probs, DISTRIBUTION_TOP).map((id) => ({
      concept: vocabulary[id],
      probability: probs[id],
    }));
    const row = {
      temperature,
      predicted: float32ToBytes(predicted),
      probs: float32ToBytes(Float32Array.from(probs)),
      lengthScale: fit.lengthScale,
      noise: fit.noise,
      observed: observed.length,
      topConcepts: top as unknown as object,
    };
    await db().distribution.upsert({
      where: { runId_iteration: { runId: ref.runId, iteration: ref.iteration } },
      create: { runId: ref.runId, iteration: ref.iteration, ...row },
      update: row,
    });
    ctx.log.info(
      { observed: observed.length, temperature, ...fit, top: top.slice(0, 5).map((t) => t.concept) },
      'distribution updated',
    );
    return { temperature, observed: observed.length, topConcepts: top };
  });
}
