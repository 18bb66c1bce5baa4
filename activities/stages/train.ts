import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { resolveInitCheckpoint } from '../../lib/base-encoder';
import { db } from '../../lib/db';
import { HandoverFileError, writeFileAtomic } from '../../lib/files';
import { pythonExecutable } from '../../lib/paths';
import { baseEncoderFile, iterationFiles } from '../iteration-files';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { applyRetention, forgetRemoved } from '../train/retention';
import { runTrainer, type TrainerEvent, type TrainingDivergence } from '../train/trainer-process';
import type { StageRef } from '../../lib/contract';

export interface TrainResult {
  steps: number;
  loss: number | null;
  onnxPath: string;
  checkpoint: string;
  imagesPerSec: number | null;
}

/**
 * Continues self-supervised training on target ∪ this iteration's candidates ∪ the replay buffer.
 * Checkpoints land in the iteration's folder; a retry (after a crash or a lost worker) resumes from the
 * newest one there, so the step counter continues instead of restarting.
 */
export async function trainEncoder(ref: StageRef): Promise<TrainResult> {
  const run = await loadRun(ref.runId);
  return runStage('train', ref, async (ctx) => {
    const files = iterationFiles(ref);
    const dir = files.trainDir;
    await fs.mkdir(dir, { recursive: true });
    const manifestPath = files.manifest;
    const manifest = await iterationManifest(ref, manifestPath);
    const previous =
      ref.iteration > 0
        ? await db().iteration.findUnique({ where: { runId_index: { runId: ref.runId, index: ref.iteration - 1 } } })
        : null;

    const { train } = run.config;
    const onnxPath = files.encoder;
    const args = [
      '--manifest',
      manifestPath,
      '--out-dir',
      dir,
      '--preset',
      train.preset,
      '--steps',
      String(train.steps),
      '--checkpoint-every',
      String(train.checkpointEvery),
      '--resume',
      'auto',
      '--onnx',
      onnxPath,
      '--seed',
      String(run.config.seed + ref.iteration),
      '--device',
      train.device,
    ];
    if (train.batchSize) args.push('--batch-size', String(train.batchSize));
    if (train.lr !== undefined) args.push('--lr', String(train.lr));
    if (previous?.checkpoint) args.push('--init', previous.checkpoint);
    if (ref.iteration === 0) {
      const initCheckpoint = resolveInitCheckpoint(train.initCheckpoint, train.preset);
      if (initCheckpoint) args.push('--init-checkpoint', initCheckpoint);
      args.push('--base-onnx', baseEncoderFile(ref.runId));
    }

    ctx.log.info(
      {
        target: manifest.target.length,
        candidates: manifest.candidates.length,
        replay: manifest.replay.length,
        resumeFrom: ctx.previousDetails(),
      },
      'training',
    );
    let last: { step: number; loss: number | null; checkpoint: string | null } = {
      step: 0,
      loss: null,
      checkpoint: null,
    };
    const done = await runTrainer({
      python: train.python ?? pythonExecutable(),
      args,
      signal: ctx.signal,
      onLog: (line) => ctx.log.debug({ trainer: line }),
      describeDivergence: (d) => divergenceMessage(ref, d, train.lr),
      onEvent: async (event: TrainerEvent) => {
        if (event.event === 'step') last = { ...last, step: event.step, loss: event.loss };
        if (event.event === 'initialised') {
          ctx.log.info(
            {
              initCheckpoint: event.path,
              layout: event.layout,
              loaded: event.loaded,
              copiedFromOnline: event.copiedFromOnline,
              skippedCount: event.skippedCount,
              skipped: event.skipped,
            },
            'encoder initialised from checkpoint',
          );
        }
        if (event.event === 'base') ctx.log.info({ onnx: event.onnx }, 'starting encoder exported');
        if (event.event === 'checkpointSkipped') {
          ctx.log.warn(
            { checkpoint: event.path, reason: event.reason },
            'checkpoint cannot be loaded; resuming from the previous one',
          );
        }
        if (event.event === 'resumed') {
          last = { ...last, step: event.step, checkpoint: event.checkpoint };
          ctx.log.info({ step: event.step, checkpoint: event.checkpoint }, 'training resumed from checkpoint');
        }
        if (event.event === 'checkpoint') {
          last = { ...last, step: event.step, checkpoint: event.path };
          await db().checkpoint.upsert({
            where: { runId_iteration_step: { runId: ref.runId, iteration: ref.iteration, step: event.step } },
            create: { runId: ref.runId, iteration: ref.iteration, step: event.step, path: event.path },
            update: { path: event.path },
          });
        }
        ctx.heartbeat(last);
      },
    });
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { trainSteps: done.step, trainLoss: last.loss, onnxPath: done.onnx, checkpoint: done.checkpoint },
    });
    const retained = await applyRetention(ref.runId, ref.iteration, train);
    await forgetRemoved(ref.runId, ref.iteration, retained);
    ctx.log.info(
      { steps: done.step, loss: last.loss, imagesPerSec: done.imagesPerSec, removed: retained.removed.length },
      'training finished',
    );
    return {
      steps: done.step,
      loss: last.loss,
      onnxPath: done.onnx,
      checkpoint: done.checkpoint,
      imagesPerSec: done.imagesPerSec ?? null,
    };
  });
}

/**
 * A diverged training in the run config's terms. The run keeps its config, and a retry from the same state
 * diverges again: the way on is a new run with a lower learning rate or batch, from the weights before it.
 */
export function divergenceMessage(ref: StageRef, d: TrainingDivergence, lr: number | undefined): string {
  const short = (x: number) => String(Number(x.toPrecision(3)));
  const base = lr === undefined ? `the preset's ${short(d.baseLr)}` : short(d.baseLr);
  const from = d.checkpoint
    ? `, with train.initCheckpoint ${d.checkpoint} (the newest checkpoint, saved before it) to keep the training so far`
    : '';
  return (
    `training diverged in iteration ${ref.iteration}: ${d.what} at step ${d.step} (learning rate ` +
    `${short(d.lr)} at that step; train.lr ${base}, batch ${d.batchSize}). A retry from the same state diverges ` +
    `again, so the iteration stops: stop the run (ie control stop ${ref.runId}) and start it again with a lower ` +
    `train.lr (e.g. ${short(d.baseLr / 10)}) or a smaller train.batchSize${from}`
  );
}

/** What the trainer trains on: content-store paths, each part in sha256 order, without duplicates. */
export interface TrainManifest {
  target: string[];
  candidates: string[];
  replay: string[];
}

/**
 * The iteration's training data: the target, this iteration's downloads and the replay buffer as it stood
 * before this iteration (capped). Each part comes from one query, ordered by sha256, so the order is the same
 * at any size (no IN-list chunking); at most target + an iteration's downloads + score.replayCap paths.
 */
export async function buildManifest(ref: StageRef): Promise<TrainManifest> {
  const paths = (rows: { path: string }[]) => rows.map((r) => r.path);
  const target = await db().$queryRaw<{ path: string }[]>`
    SELECT DISTINCT t.sha256, i.path FROM "TargetImage" t JOIN "Image" i ON i.sha256 = t.sha256
    WHERE t."runId" = ${ref.runId} ORDER BY t.sha256`;
  const candidates = await db().$queryRaw<{ path: string }[]>`
    SELECT DISTINCT c.sha256, i.path FROM "Candidate" c JOIN "Image" i ON i.sha256 = c.sha256
    WHERE c."runId" = ${ref.runId} AND c.iteration = ${ref.iteration} ORDER BY c.sha256`;
  const replay = await db().$queryRaw<{ path: string }[]>`
    SELECT r.sha256, i.path FROM "ReplayMember" r JOIN "Image" i ON i.sha256 = r.sha256
    WHERE r."runId" = ${ref.runId} AND r.iteration < ${ref.iteration}
      AND NOT EXISTS (SELECT 1 FROM "Candidate" c
        WHERE c."runId" = r."runId" AND c.iteration = ${ref.iteration} AND c.sha256 = r.sha256)
    ORDER BY r.sha256`;
  return { target: paths(target), candidates: paths(candidates), replay: paths(replay) };
}

const SPLITS = ['target', 'candidates', 'replay'] as const;

/** The manifest file: the three lists and how many each holds (the trainer checks them too). */
const ManifestFile = z.object({
  target: z.array(z.string()),
  candidates: z.array(z.string()),
  replay: z.array(z.string()),
  counts: z.object({ target: z.number(), candidates: z.number(), replay: z.number() }).optional(),
});

/**
 * The iteration's manifest: written once, then read back by every later attempt, so a retried or resumed
 * iteration trains on exactly the data it started with (the replay buffer moves on once the iteration has
 * been scored). Written whole (a temp file, then rename) with its counts; one that does not parse or whose
 * lists do not match its counts is refused, naming it, rather than trained on.
 */
async function iterationManifest(ref: StageRef, file: string): Promise<TrainManifest> {
  let text: string | undefined;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) return checkedManifest(file, text);
  const manifest = await buildManifest(ref);
  const counts = Object.fromEntries(SPLITS.map((s) => [s, manifest[s].length]));
  await writeFileAtomic(file, JSON.stringify({ ...manifest, counts }));
  return manifest;
}

export function checkedManifest(file: string, text: string): TrainManifest {
  let why: string | undefined;
  let parsed: z.infer<typeof ManifestFile> | undefined;
  try {
    const result = ManifestFile.safeParse(JSON.parse(text));
    if (result.success) parsed = result.data;
    else why = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  } catch (error) {
    why = (error as Error).message;
  }
  const { counts } = parsed ?? {};
  if (parsed && counts && SPLITS.some((s) => parsed[s].length !== counts[s]))
    why = `it lists ${SPLITS.map((s) => `${parsed[s].length} ${s}`).join(', ')} but was written with ${JSON.stringify(counts)}`;
  if (why || !parsed)
    throw new HandoverFileError(
      file,
      `the training manifest ${file} is torn or altered (${why}); remove the folder ${path.dirname(file)} to train ` +
        'the iteration again from its start',
    );
  return { target: parsed.target, candidates: parsed.candidates, replay: parsed.replay };
}
