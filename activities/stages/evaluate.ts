import fs from 'node:fs/promises';
import { db } from '../../lib/db';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { float32FromBytes } from '../bytes';
import { knnAccuracyLeaveOneOut } from '../evaluate/knn';
import { targetEmbeddingsPath } from './score';
import type { IterationEvaluation, StageRef } from '../../workflows/types';

/**
 * kNN accuracy (leave-one-out, cosine) of this iteration's encoder on the labelled target. Labels are
 * read here and nowhere in exploration or training.
 */
export async function evaluateEncoder(ref: StageRef): Promise<IterationEvaluation> {
  const run = await loadRun(ref.runId);
  return runStage('evaluate', ref, async (ctx) => {
    if (!run.hasLabels) return { knnAccuracy: null, linearProbeAccuracy: null };
    const targets = await db().targetImage.findMany({ where: { runId: ref.runId }, orderBy: { idx: 'asc' } });
    const embeddings = float32FromBytes(await fs.readFile(targetEmbeddingsPath(ref)));
    const dim = embeddings.length / targets.length;
    if (!Number.isInteger(dim))
      throw new Error(`target embeddings of ${ref.runId} iteration ${ref.iteration} do not match the target size`);
    const knnAccuracy = knnAccuracyLeaveOneOut(
      embeddings,
      targets.map((t) => t.label ?? -1),
      dim,
      run.config.evaluate.k,
    );
    await db().evaluation.upsert({
      where: { runId_iteration_metric: { runId: ref.runId, iteration: ref.iteration, metric: 'knn_accuracy' } },
      create: { runId: ref.runId, iteration: ref.iteration, metric: 'knn_accuracy', value: knnAccuracy },
      update: { value: knnAccuracy },
    });
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { knnAccuracy },
    });
    ctx.log.info({ knnAccuracy, k: run.config.evaluate.k, images: targets.length }, 'evaluated');
    return { knnAccuracy, linearProbeAccuracy: null };
  });
}
