import { db } from '../../lib/db';
import { pythonExecutable } from '../../lib/paths';
import { loadRun } from '../run-config';
import { runStage, type StageContext } from '../stage';
import { knnAccuracyLeaveOneOut, knnAccuracySplit } from '../evaluate/knn';
import { linearProbe } from '../evaluate/probe';
import { stratifiedSplit } from '../evaluate/split';
import { OnnxImageEmbedder } from '../score/embedder';
import { HandoverFileError, readFloat32File, writeFloat32File } from '../../lib/files';
import { baseEncoderFile, baseTargetEmbeddingsFile, fetchEncoder, iterationFiles } from '../iteration-files';
import { localImageFiles } from '../store/content-store';
import { fetchFile, keyOfLocal, publish } from '../../lib/storage';
import type { EncoderEvaluation, IterationEvaluation, StageRef } from '../../lib/contract';

const NONE: EncoderEvaluation = { knnAccuracy: null, linearProbeAccuracy: null };

interface Labelled {
  /** Row of each labelled image in the target (TargetImage.idx order). */
  rows: number[];
  labels: number[];
  test: boolean[];
}

/**
 * Figures of this iteration's encoder on the labelled target, on a fixed stratified split
 * (activities/evaluate/split.ts): kNN accuracy (cosine, k = evaluate.k, test images against the
 * training images), linear-probe accuracy (logistic regression on frozen features), and leave-one-out
 * kNN over every labelled image as an extra figure. At iteration 0 the starting encoder is evaluated
 * the same way. Labels are read here and nowhere in exploration or training. Idempotent: a retry
 * recomputes the same figures and overwrites its own rows.
 */
export async function evaluateEncoder(ref: StageRef): Promise<IterationEvaluation> {
  const run = await loadRun(ref.runId);
  return runStage('evaluate', ref, async (ctx) => {
    if (!run.hasLabels) return NONE;
    const targets = await db().targetImage.findMany({ where: { runId: ref.runId }, orderBy: { idx: 'asc' } });
    const unlabelled = targets.filter((t) => t.label === null).length;
    if (unlabelled) ctx.log.warn({ unlabelled }, 'target images without a label are left out of the evaluation');
    const rows = targets.flatMap((t, i) => (t.label === null ? [] : [i]));
    const labels = rows.map((i) => targets[i].label as number);
    const test = stratifiedSplit(
      rows.map((row, i) => ({ sha256: targets[row].sha256, label: labels[i] })),
      run.config.evaluate.testFraction,
    );
    const labelled: Labelled = { rows, labels, test };
    const unusable = whyNotEvaluable(labelled);
    if (unusable) {
      ctx.log.warn({ reason: unusable, labelled: rows.length }, 'no evaluation figures');
      return NONE;
    }

    const files = iterationFiles(ref);
    const current = await readEmbeddings(await fetchFile(keyOfLocal(files.targetEmbeddings)), targets.length, ref);
    const features: Record<string, { embeddings: Float32Array; dim: number }> = { current };
    if (ref.iteration === 0) {
      const fileOf = await localImageFiles(targets.map((t) => t.sha256));
      const paths = targets.map((t) => fileOf(t.sha256));
      features.base = await baseEmbeddings(ref, paths, run.config.score.batchSize, ctx);
    }

    const k = run.config.evaluate.k;
    const probeFiles: Record<string, string> = {};
    for (const [name, { embeddings, dim }] of Object.entries(features)) {
      probeFiles[name] = files.probeFeatures(name);
      await writeFloat32File(probeFiles[name], selectRows(embeddings, rows, dim), { rows: rows.length, dim });
    }
    const probes = await linearProbe({
      python: run.config.train.python ?? pythonExecutable(),
      workDir: files.dir,
      labels,
      test,
      features: probeFiles,
      signal: ctx.signal,
    });

    const figures: Record<string, EncoderEvaluation> = {};
    for (const [name, { embeddings, dim }] of Object.entries(features)) {
      const own = selectRows(embeddings, rows, dim);
      const knnAccuracy = await knnAccuracySplit(own, labels, test, dim, k);
      const knnLoo = await knnAccuracyLeaveOneOut(own, labels, dim, k);
      const probe = probes[name];
      const prefix = name === 'base' ? 'base_' : '';
      await storeMetrics(ref, {
        [`${prefix}knn_accuracy`]: knnAccuracy,
        [`${prefix}knn_loo_accuracy`]: knnLoo,
        [`${prefix}linear_probe_accuracy`]: probe.accuracy,
      });
      figures[name] = { knnAccuracy, linearProbeAccuracy: probe.accuracy };
      ctx.log.info(
        {
          encoder: name,
          knnAccuracy,
          knnLooAccuracy: knnLoo,
          linearProbeAccuracy: probe.accuracy,
          probeC: probe.C,
          probeValidationAccuracy: probe.validationAccuracy,
          k,
          train: probe.train,
          test: probe.test,
        },
        'evaluated',
      );
    }
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { knnAccuracy: figures.current.knnAccuracy, linearProbeAccuracy: figures.current.linearProbeAccuracy },
    });
    return figures.base ? { ...figures.current, base: figures.base } : figures.current;
  });
}

/** Why the split cannot give figures (null when it can). */
function whyNotEvaluable({ labels, test }: Labelled): string | null {
  const trainClasses = new Set(labels.filter((_, i) => !test[i]));
  if (!test.some(Boolean)) return 'the test split is empty (every class has fewer than two images)';
  if (trainClasses.size < 2) return 'the training split has fewer than two classes';
  return null;
}

/** The target's embeddings (one row per target image), checked: a missing, torn or misshapen file is refused. */
async function readEmbeddings(
  file: string,
  count: number,
  ref: StageRef,
): Promise<{ embeddings: Float32Array; dim: number }> {
  try {
    const { values, dim } = await readFloat32File(file, { rows: count });
    return { embeddings: values, dim };
  } catch (error) {
    if (!(error instanceof HandoverFileError)) throw error;
    throw new HandoverFileError(
      file,
      `target embeddings of ${ref.runId} iteration ${ref.iteration}: ${error.message}; the score stage writes ` +
        'them (ie retry-iteration runs it again)',
    );
  }
}

function selectRows(embeddings: Float32Array, rows: number[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => out.set(embeddings.subarray(row * dim, (row + 1) * dim), i * dim));
  return out;
}

/** The target embedded by the starting encoder; cached next to it so a retry skips the work. */
async function baseEmbeddings(
  ref: StageRef,
  paths: string[],
  batchSize: number,
  ctx: StageContext,
): Promise<{ embeddings: Float32Array; dim: number }> {
  const file = baseTargetEmbeddingsFile(ref.runId);
  if (await fetchFile(keyOfLocal(file)).catch(() => undefined)) {
    try {
      return await readEmbeddings(file, paths.length, ref);
    } catch (error) {
      // A cache: one that does not check out (torn, another target) is said and rebuilt.
      if (!(error instanceof HandoverFileError)) throw error;
      ctx.log.warn({ file, reason: error.message }, 'cached starting-encoder embeddings refused; rebuilding them');
    }
  }
  const onnx = baseEncoderFile(ref.runId);
  let embedder: OnnxImageEmbedder;
  try {
    embedder = await OnnxImageEmbedder.load(await fetchEncoder(keyOfLocal(onnx)));
  } catch (error) {
    throw new Error(
      `the starting encoder ${onnx} cannot be loaded (${(error as Error).message}); ` +
        'iteration 0 training exports it before its first step',
    );
  }
  try {
    const embeddings = await embedder.embedFiles(paths, { batchSize });
    await writeFloat32File(file, embeddings, { rows: paths.length, dim: embedder.dim });
    await publish(file);
    ctx.heartbeat({ embedded: 'base' });
    return { embeddings, dim: embedder.dim };
  } finally {
    await embedder.close();
  }
}

async function storeMetrics(ref: StageRef, metrics: Record<string, number>): Promise<void> {
  await db().$transaction(
    Object.entries(metrics).map(([metric, value]) =>
      db().evaluation.upsert({
        where: { runId_iteration_metric: { runId: ref.runId, iteration: ref.iteration, metric } },
        create: { runId: ref.runId, iteration: ref.iteration, metric, value },
        update: { value },
      }),
    ),
  );
}
