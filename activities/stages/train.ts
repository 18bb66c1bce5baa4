import fs from 'node:fs/promises';
import { resolveInitCheckpoint } from '../../lib/base-encoder';
import { db } from '../../lib/db';
import { writeFileAtomic } from '../../lib/files';
import { pythonExecutable } from '../../lib/paths';
import { baseEncoderFile, iterationFiles } from '../iteration-files';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { runTrainer, type TrainerEvent } from '../train/trainer-process';
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
    const manifest = await buildManifest(ref);
    await writeFileAtomic(manifestPath, JSON.stringify(manifest));
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
    ctx.log.info({ steps: done.step, loss: last.loss, imagesPerSec: done.imagesPerSec }, 'training finished');
    return {
      steps: done.step,
      loss: last.loss,
      onnxPath: done.onnx,
      checkpoint: done.checkpoint,
      imagesPerSec: done.imagesPerSec ?? null,
    };
  });
}

async function buildManifest(ref: StageRef): Promise<{ target: string[]; candidates: string[]; replay: string[] }> {
  const pathsOf = async (shas: string[]) =>
    (
      await db().image.findMany({ where: { sha256: { in: shas } }, select: { path: true }, orderBy: { sha256: 'asc' } })
    ).map((i) => i.path);
  const target = await db().targetImage.findMany({ where: { runId: ref.runId }, orderBy: { idx: 'asc' } });
  const candidates = await db().candidate.findMany({
    where: { runId: ref.runId, iteration: ref.iteration },
    distinct: ['sha256'],
    select: { sha256: true },
  });
  const replay = await db().replayMember.findMany({
    where: { runId: ref.runId, iteration: { lt: ref.iteration } },
    select: { sha256: true },
  });
  const candidateShas = new Set(candidates.map((c) => c.sha256));
  return {
    target: await pathsOf([...new Set(target.map((t) => t.sha256))]),
    candidates: await pathsOf([...candidateShas]),
    replay: await pathsOf(replay.map((r) => r.sha256).filter((s) => !candidateShas.has(s))),
  };
}
