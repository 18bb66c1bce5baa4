import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { float32ToBytes } from '../../lib/bytes';
import { OnnxImageEmbedder } from '../score/embedder';
import { conceptRewards, knnRewards, replayAdmission, standardise, webRelativeRewards } from '../score/rewards';
import { runConceptRewards } from '../score/run-rewards';
import { writeFileAtomic } from '../../lib/files';
import { iterationFiles } from '../iteration-files';
import type { StageRef } from '../../lib/contract';

/**
 * Scores this iteration's downloads with the freshly trained encoder: each image's reward is its mean
 * cosine similarity to its k nearest target images; a concept's reward is the mean over its images
 * (standardised within the iteration); images at or above the median join the replay buffer.
 *
 * The run's earlier downloads are scored again with the same encoder, so the concept rewards the GP
 * learns from (`concept-rewards.json`) all come from one representation: rewards of different
 * encoders are not comparable, and iteration 0's evidence, first judged by the barely trained
 * encoder, is judged again by the better one.
 */
export async function scoreCandidates(
  ref: StageRef,
): Promise<{ scored: number; meanReward: number | null; admitted: number }> {
  const run = await loadRun(ref.runId);
  return runStage('score', ref, async (ctx) => {
    const iteration = await db().iteration.findUniqueOrThrow({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
    });
    if (!iteration.onnxPath)
      throw new Error(`iteration ${ref.iteration} of ${ref.runId} has no trained encoder to score with`);
    const embedder = await OnnxImageEmbedder.load(iteration.onnxPath);
    try {
      const targets = await db().targetImage.findMany({ where: { runId: ref.runId }, orderBy: { idx: 'asc' } });
      const runCandidates = await db().candidate.findMany({
        where: { runId: ref.runId, iteration: { lte: ref.iteration } },
        select: { iteration: true, conceptId: true, sha256: true },
      });
      const candidates = runCandidates.filter((c) => c.iteration === ref.iteration);
      const candidateShas = [...new Set(candidates.map((c) => c.sha256))].sort();
      const runShas = [...new Set(runCandidates.map((c) => c.sha256))].sort();
      const images = await db().image.findMany({
        where: { sha256: { in: [...new Set([...targets.map((t) => t.sha256), ...runShas])] } },
        select: { sha256: true, path: true },
      });
      const pathOf = new Map(images.map((i) => [i.sha256, i.path]));
      const batchSize = run.config.score.batchSize;

      const targetEmb = await embedder.embedFiles(
        targets.map((t) => pathOf.get(t.sha256) as string),
        { batchSize },
      );
      await writeFileAtomic(iterationFiles(ref).targetEmbeddings, float32ToBytes(targetEmb));
      ctx.heartbeat({ embedded: 'target' });
      const runEmb = await embedder.embedFiles(
        runShas.map((s) => pathOf.get(s) as string),
        { batchSize, onBatch: (done) => ctx.heartbeat({ embedded: done }) },
      );
      const runRewards =
        run.config.score.reward === 'web-relative'
          ? webRelative(runShas, runEmb, targetEmb, webSample(runCandidates), embedder.dim, run.config.score.k)
          : knnRewards(runEmb, targetEmb, embedder.dim, run.config.score.k);
      const rewardOf = new Map(runShas.map((sha, i) => [sha, runRewards[i]]));
      const rewards = Float32Array.from(candidateShas, (sha) => rewardOf.get(sha) as number);

      const queries = await db().query.findMany({
        where: { runId: ref.runId, iteration: { lte: ref.iteration } },
        select: { iteration: true, conceptId: true },
      });
      const perConcept = conceptRewards(
        candidates.map((c) => ({ conceptId: c.conceptId, reward: rewardOf.get(c.sha256) as number })),
        queries.filter((q) => q.iteration === ref.iteration).map((q) => q.conceptId),
      );
      const runWide = runConceptRewards(runCandidates, queries, rewardOf, ref.iteration);
      await writeFileAtomic(iterationFiles(ref).conceptRewards, JSON.stringify(runWide));
      const conceptIds = [...perConcept.keys()];
      const z = standardise(conceptIds.map((id) => (perConcept.get(id) as { raw: number }).raw));
      const admitted = replayAdmission(rewards, run.config.score.replayQuantile);

      await db().$transaction([
        db().imageReward.createMany({
          data: candidateShas.map((sha256, i) => ({
            runId: ref.runId,
            iteration: ref.iteration,
            sha256,
            reward: rewards[i],
          })),
          skipDuplicates: true,
        }),
        db().conceptReward.createMany({
          data: conceptIds.map((conceptId, i) => {
            const c = perConcept.get(conceptId) as { raw: number; images: number };
            return {
              runId: ref.runId,
              iteration: ref.iteration,
              conceptId,
              reward: c.raw,
              standardised: z[i],
              images: c.images,
            };
          }),
          skipDuplicates: true,
        }),
        db().replayMember.createMany({
          data: candidateShas
            .map((sha256, i) => ({
              runId: ref.runId,
              sha256,
              iteration: ref.iteration,
              reward: rewards[i],
              admit: admitted[i],
            }))
            .filter((m) => m.admit)
            .map(({ admit: _admit, ...m }) => m),
          skipDuplicates: true,
        }),
      ]);
      const meanReward = rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : null;
      const kept = admitted.filter(Boolean).length;
      await db().iteration.update({
        where: { runId_index: { runId: ref.runId, index: ref.iteration } },
        data: { meanReward, kept },
      });
      ctx.log.info(
        {
          scored: rewards.length,
          rescored: runShas.length - candidateShas.length,
          meanReward,
          admitted: kept,
          concepts: conceptIds.length,
          runConcepts: runWide.ids.length,
        },
        'scored',
      );
      return { scored: rewards.length, meanReward, admitted: kept };
    } finally {
      await embedder.close();
    }
  });
}

/** The run's reference sample of the web: the images iteration 0's uniformly drawn concepts found. */
function webSample(candidates: { iteration: number; sha256: string }[]): Set<string> {
  return new Set(candidates.filter((c) => c.iteration === 0).map((c) => c.sha256));
}

/** Web-relative rewards of `shas` (rows of `embeddings`), the web sample taken from those same rows. */
function webRelative(
  shas: string[],
  embeddings: Float32Array,
  targets: Float32Array,
  web: Set<string>,
  dim: number,
  k: number,
): Float32Array {
  const webRows: number[] = [];
  const webRowOf = new Int32Array(shas.length).fill(-1);
  shas.forEach((sha, i) => {
    if (!web.has(sha)) return;
    webRowOf[i] = webRows.length;
    webRows.push(i);
  });
  const webEmb = new Float32Array(webRows.length * dim);
  webRows.forEach((row, j) => webEmb.set(embeddings.subarray(row * dim, (row + 1) * dim), j * dim));
  return webRelativeRewards(embeddings, targets, webEmb, webRowOf, dim, k);
}
