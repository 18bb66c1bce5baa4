import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { OnnxImageEmbedder } from '../score/embedder';
import { conceptRewards, knnRewards, replayAdmission, standardise, webRelativeRewards } from '../score/rewards';
import { runConceptRewards } from '../score/run-rewards';
import { evidenceToScore, recordEvidenceRewards, sampleKey } from '../score/evidence';
import { admitToReplay } from '../score/replay';
import { writeFloat32File } from '../../lib/files';
import { dropEarlierCopies, fetchEncoder, iterationFiles } from '../iteration-files';
import { localImageFiles } from '../store/content-store';
import { publish } from '../../lib/storage';
import type { StageRef } from '../../lib/contract';

/**
 * Scores this iteration's downloads with the freshly trained encoder: each image's reward is its mean
 * cosine similarity to its k nearest target images (less its similarity to the web, by default); a
 * concept's reward for this iteration is the mean over its images (standardised within the iteration);
 * images at or above the quantile join the replay buffer (capped: activities/score/replay.ts).
 *
 * One encoder judges the evidence the GP learns from: with these downloads, the stage rescores a bounded
 * part of the run's earlier evidence (activities/score/evidence.ts) and stores every scored concept's
 * reward under this encoder. Its cost depends on the iteration's downloads and fixed caps (evidence,
 * web sample), never on how many iterations came before.
 */
export async function scoreCandidates(
  ref: StageRef,
): Promise<{ scored: number; meanReward: number | null; admitted: number }> {
  const run = await loadRun(ref.runId);
  const { score } = run.config;
  return runStage('score', ref, async (ctx) => {
    const iteration = await db().iteration.findUniqueOrThrow({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
    });
    if (!iteration.onnxPath)
      throw new Error(`iteration ${ref.iteration} of ${ref.runId} has no trained encoder to score with`);
    const targets = await db().targetImage.findMany({ where: { runId: ref.runId }, orderBy: { idx: 'asc' } });
    const candidates = await db().candidate.findMany({
      where: { runId: ref.runId, iteration: ref.iteration },
      select: { conceptId: true, sha256: true },
    });
    const queried = (
      await db().query.findMany({
        where: { runId: ref.runId, iteration: ref.iteration },
        select: { conceptId: true },
        orderBy: { conceptId: 'asc' },
      })
    ).map((q) => q.conceptId);
    const evidence = await evidenceToScore(ref, queried, candidates, score.evidence);
    const web = score.reward === 'web-relative' ? await webSample(ref.runId, score.webSample) : [];
    const candidateShas = [...new Set(candidates.map((c) => c.sha256))].sort();
    const shas = [...new Set([...candidateShas, ...evidence.flatMap((e) => e.images), ...web])].sort();
    const pathOf = await localImageFiles([...targets.map((t) => t.sha256), ...shas], {
      onFetched: (done) => ctx.heartbeat({ imagesFetched: done }),
    });

    const embedder = await OnnxImageEmbedder.load(await fetchEncoder(iteration.onnxPath));
    const dim = embedder.dim;
    let targetEmb: Float32Array;
    let embeddings: Float32Array;
    try {
      targetEmb = await embedder.embedFiles(
        targets.map((t) => pathOf(t.sha256)),
        { batchSize: score.batchSize },
      );
      await writeFloat32File(iterationFiles(ref).targetEmbeddings, targetEmb, { rows: targets.length, dim });
      await publish(iterationFiles(ref).targetEmbeddings);
      ctx.heartbeat({ embedded: 'target' });
      embeddings = await embedder.embedFiles(shas.map(pathOf), {
        batchSize: score.batchSize,
        onBatch: (done) => ctx.heartbeat({ embedded: done, of: shas.length }),
      });
    } finally {
      await embedder.close();
    }
    const imageRewards =
      score.reward === 'web-relative'
        ? await webRelative(shas, embeddings, targetEmb, new Set(web), dim, score.k)
        : await knnRewards(embeddings, targetEmb, dim, score.k);
    const rewardOf = new Map(shas.map((sha, i) => [sha, imageRewards[i]]));
    const rewards = Float32Array.from(candidateShas, (sha) => rewardOf.get(sha) as number);

    // This iteration's concepts on this iteration's images: the per-iteration record (ConceptReward).
    const perConcept = conceptRewards(
      candidates.map((c) => ({ conceptId: c.conceptId, reward: rewardOf.get(c.sha256) as number })),
      queried,
    );
    const z = standardise(queried.map((id) => (perConcept.get(id) as { raw: number }).raw));
    // Every concept scored this iteration, under this encoder: what the GP learns from.
    const scored = runConceptRewards(
      evidence.flatMap((e) => e.images.map((sha256) => ({ conceptId: e.conceptId, sha256 }))),
      evidence,
      rewardOf,
      ref.iteration,
    );
    const admitted = replayAdmission(rewards, score.replayQuantile);

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
        data: queried.map((conceptId, i) => {
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
    ]);
    await recordEvidenceRewards(
      ref,
      scored.ids.map((conceptId, i) => ({ conceptId, reward: scored.raw[i], standardised: scored.standardised[i] })),
    );
    const replay = await admitToReplay(
      ref,
      candidateShas.flatMap((sha256, i) => (admitted[i] ? [{ sha256, reward: rewards[i] }] : [])),
      score.replayCap,
    );
    const meanReward = rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : null;
    const kept = admitted.filter(Boolean).length;
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { meanReward, kept },
    });
    ctx.log.info(
      {
        scored: rewards.length,
        rescored: shas.length - candidateShas.length,
        meanReward,
        admitted: kept,
        replay: replay.size,
        evicted: replay.evicted,
        concepts: queried.length,
        evidenceConcepts: scored.ids.length,
      },
      'scored',
    );
    await dropEarlierCopies(ref.runId, ref.iteration);
    return { scored: rewards.length, meanReward, admitted: kept };
  });
}

/**
 * The run's reference sample of the web: at most `size` of the images iteration 0's uniformly drawn
 * concepts found (those with the smallest keys), the same every iteration.
 */
async function webSample(runId: string, size: number): Promise<string[]> {
  const rows = await db().candidate.findMany({
    where: { runId, iteration: 0 },
    select: { sha256: true },
    distinct: ['sha256'],
  });
  return rows
    .map((r) => ({ sha: r.sha256, key: sampleKey(runId, r.sha256) }))
    .sort((a, b) => a.key - b.key || (a.sha < b.sha ? -1 : 1))
    .slice(0, size)
    .map((r) => r.sha);
}

/** Web-relative rewards of `shas` (rows of `embeddings`), the web sample taken from those same rows. */
function webRelative(
  shas: string[],
  embeddings: Float32Array,
  targets: Float32Array,
  web: Set<string>,
  dim: number,
  k: number,
): Promise<Float32Array> {
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
