import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { resolveInitCheckpoint } from '../../lib/base-encoder';
import { db } from '../../lib/db';
import { HandoverFileError, writeFileAtomic } from '../../lib/files';
import { pythonExecutable } from '../../lib/paths';
import {
  fetchFile,
  fetchFiles,
  keyOfLocal,
  MissingObjectError,
  publish,
  removeStored,
  storedKeys,
  unpublish,
} from '../../lib/storage';
import { baseEncoderFile, dropEarlierCopies, iterationFiles } from '../iteration-files';
import { loadRun } from '../run-config';
import { runStage } from '../stage';
import { applyRetention, forgetRemoved } from '../train/retention';
import { runTrainer, type TrainerEvent, type TrainingDivergence } from '../train/trainer-process';
import type { StageRef } from '../../lib/contract';

/** A checkpoint's key; names sort by step (`ckpt-{step:06d}.pt`, trainer/ietrainer/checkpoint.py). */
const CHECKPOINT_KEY = /\/ckpt-\d+\.pt$/;

export interface TrainResult {
  steps: number;
  loss: number | null;
  /** Object-store keys of the trained encoder and the final checkpoint. */
  onnxPath: string;
  checkpoint: string;
  imagesPerSec: number | null;
}

/**
 * Continues self-supervised training on target ∪ this iteration's candidates ∪ the replay buffer.
 * Checkpoints land in the iteration's folder and the object store; a retry (after a crash or a lost worker,
 * on this host or another) fetches them and resumes from the newest, so the step counter continues instead
 * of restarting. Its images come from the object store too (those this host lacks, 16 at a time).
 */
export async function trainEncoder(ref: StageRef): Promise<TrainResult> {
  const run = await loadRun(ref.runId);
  return runStage('train', ref, async (ctx) => {
    const files = iterationFiles(ref);
    const dir = files.trainDir;
    await fs.mkdir(dir, { recursive: true });
    // What another host's attempt left: its manifest and newest checkpoint (nothing without an object store).
    const stored = await storedKeys(keyOfLocal(dir));
    const newest = stored.filter((key) => CHECKPOINT_KEY.test(key)).pop();
    await fetchFiles(stored.filter((key) => key === keyOfLocal(files.manifest) || key === newest));
    const manifest = await iterationManifest(ref, files.manifest);
    const manifestPath = await localManifest(manifest, files.manifest, (done) =>
      ctx.heartbeat({ imagesFetched: done }),
    );
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
    if (previous?.checkpoint) args.push('--init', await fetchFile(previous.checkpoint));
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
          // In the object store before the database names it, so a resume elsewhere finds what the row says.
          const key = await publish(event.path);
          last = { ...last, step: event.step, checkpoint: key };
          await db().checkpoint.upsert({
            where: { runId_iteration_step: { runId: ref.runId, iteration: ref.iteration, step: event.step } },
            create: { runId: ref.runId, iteration: ref.iteration, step: event.step, path: key },
            update: { path: key },
          });
        }
        ctx.heartbeat(last);
      },
    });
    const checkpoint = await publish(done.checkpoint);
    const onnx = await publishEncoder(done.onnx);
    if (ref.iteration === 0) await publishEncoder(baseEncoderFile(ref.runId));
    await db().iteration.update({
      where: { runId_index: { runId: ref.runId, index: ref.iteration } },
      data: { trainSteps: done.step, trainLoss: last.loss, onnxPath: onnx, checkpoint },
    });
    const retained = await applyRetention(ref.runId, ref.iteration, train);
    await unpublish(retained.removed);
    // Checkpoints the trainer's own retention removed here, or another host's attempt saved, leave the store too.
    await removeStored(
      (await storedKeys(keyOfLocal(dir))).filter((key) => CHECKPOINT_KEY.test(key) && key !== checkpoint),
    );
    await forgetRemoved(ref.runId, ref.iteration, retained);
    await dropEarlierCopies(ref.runId, ref.iteration);
    ctx.log.info(
      { steps: done.step, loss: last.loss, imagesPerSec: done.imagesPerSec, removed: retained.removed.length },
      'training finished',
    );
    return {
      steps: done.step,
      loss: last.loss,
      onnxPath: onnx,
      checkpoint,
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

/** An exported encoder and its `.json` sidecar, published; returns the encoder's key. */
async function publishEncoder(onnx: string): Promise<string> {
  await publish(`${onnx}.json`);
  return publish(onnx);
}

/**
 * The trainer's copy of the manifest: the same lists as this host's files (fetched from the object store
 * where missing), next to the manifest; returns its path. Written on every attempt: another host's paths differ.
 */
async function localManifest(
  manifest: TrainManifest,
  file: string,
  onFetched: (done: number) => void,
): Promise<string> {
  const local: TrainManifest = { target: [], candidates: [], replay: [] };
  let fetchedBefore = 0;
  for (const split of SPLITS) {
    local[split] = await fetchFiles(manifest[split], { onFetched: (done) => onFetched(fetchedBefore + done) });
    fetchedBefore += manifest[split].length;
  }
  const counts = Object.fromEntries(SPLITS.map((s) => [s, local[s].length]));
  const target = file.replace(/\.json$/, '.local.json');
  await writeFileAtomic(target, JSON.stringify({ ...local, counts }));
  return target;
}

/** What the trainer trains on: content-store keys, each part in sha256 order, without duplicates. */
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
    text = await fs.readFile(await fetchFile(keyOfLocal(file)), 'utf8');
  } catch (error) {
    if (!(error instanceof MissingObjectError) && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) return checkedManifest(file, text);
  const manifest = await buildManifest(ref);
  const counts = Object.fromEntries(SPLITS.map((s) => [s, manifest[s].length]));
  await writeFileAtomic(file, JSON.stringify({ ...manifest, counts }));
  await publish(file);
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
