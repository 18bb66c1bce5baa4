import fs from 'node:fs/promises';
import path from 'node:path';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { float32ToBytes } from '../bytes';
import { OnnxImageEmbedder } from '../score/embedder';
import { conceptRewards, knnRewards, replayAdmission, standardise } from '../score/rewards';
import { iterationDir } from './train';
import type { StageRef } from '../../workflows/types';

/** Where scoring leaves the target's embeddings for evaluation (by reference, not through Temporal). */
export function targetEmbeddingsPath(ref: StageRef): string {
  return path.join(iterationDir(ref.runId, ref.iteration), 'target-embeddings.f32');
}

/**
 * Scores this iteration's downloads with the freshly trained encoder: each image's reward is its mean
 * cosine similarity to its k nearest target images; a concept's reward is the mean over its images
 * (standardised within the iteration); images at or above the median join the replay buffer.
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
      const candidates = await db().candidate.findMany({ where: { runId: ref.runId, iteration: ref.iteration } });
      const candidateShas = [...new Set(candidates.map((c) => c.sha256))].sort();
      const images = await db().image.findMany({
        where: { sha256: { in: [...new Set([...targets.map((t) => t.sha256), ...candidateShas])] } },
      });
      const pathOf = new Map(images.map((i) => [i.sha256, i.path]));
      const batchSize = run.config.score.batchSize;

      const targetEmb = await embedder.embedFiles(
        targets.map((t) => pathOf.get(t.sha256) as string),
        { batchSize },
      );
      await fs.writeFile(targetEmbeddingsPath(ref), float32ToBytes(targetEmb));
      ctx.heartbeat({ embedded: 'target' });
      const candidateEmb = await embedder.embedFiles(
        candidateShas.map((s) => pathOf.get(s) as string),
        { batchSize, onBatch: (done) => ctx.heartbeat({ embedded: done }) },
      );
      const rewards = knnRewards(candidateEmb, targetEmb, embedder.dim, run.config.score.k);
      const rewardOf = new Map(candidateShas.map((sha, i) => [sha, rewards[i]]));

      const queries = await db().query.findMany({ where: { runId: ref.runId, iteration: ref.iteration } });
      const perConcept = conceptRewards(
        candidates.map((c) => ({ conceptId: c.conceptId, reward: rewardOf.get(c.sha256) as number })),
        queries.map((q) => q.conceptId),
      );
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
      ctx.log.info({ scored: rewards.length, meanReward, admitted: kept, concepts: conceptIds.length }, 'scored');
      return { scored: rewards.length, meanReward, admitted: kept };
    } finally {
      await embedder.close();
    }
  });
}
