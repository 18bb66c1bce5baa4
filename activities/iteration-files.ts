// Every file an iteration's stages hand to each other lives where this module says, and nowhere else:
// stages ask it for paths instead of asking each other. Everything is per iteration (its size depends on
// the iteration, never on the run so far) under `<state>/runs/<run>/iter-NNN/`.
//
// Each is written whole (a temp file, then rename: a crash or a duplicate execution never leaves a torn
// file, and of two writers at once one whole file wins) and checked by its reader, which refuses, naming
// the file, what does not check out: float32 arrays carry a header with their shape and sha256
// (lib/files.ts writeFloat32File, trainer/ietrainer/handover.py), the manifest its counts, an encoder's
// `.json` sidecar the size and sha256 of its model.
import { rm } from 'node:fs/promises';
import { readdirOrEmpty } from '../lib/files';
import path from 'node:path';
import { stateDir } from '../lib/paths';
import { fetchFile, objectStore } from '../lib/storage';
import { trimImageCopies } from './store/content-store';
import type { StageRef } from '../lib/contract';

/** The folder of one iteration's files. */
export function iterationDir(runId: string, iteration: number): string {
  return path.join(stateDir(), 'runs', runId, `iter-${String(iteration).padStart(3, '0')}`);
}

export interface IterationFiles {
  dir: string;
  /** The trainer's working folder: manifest and checkpoints. */
  trainDir: string;
  /** What the trainer trains on (target, candidates, replay), written by the train stage. */
  manifest: string;
  /** The iteration's trained encoder (with its `.json` sidecar), read by score and evaluate. */
  encoder: string;
  /** The target's embeddings under that encoder (row = TargetImage.idx), written by score, read by evaluate. */
  targetEmbeddings: string;
  /** The GP's working folder, used by update: `observed.json` in, `predicted.f32` (one row per concept) out. */
  gpDir: string;
  /** Features of the labelled target handed to the linear probe (with `probe-spec.json`), per encoder name. */
  probeFeatures(encoder: string): string;
}

export function iterationFiles(ref: StageRef): IterationFiles {
  const dir = iterationDir(ref.runId, ref.iteration);
  const trainDir = path.join(dir, 'train');
  return {
    dir,
    trainDir,
    manifest: path.join(trainDir, 'manifest.json'),
    encoder: path.join(dir, 'encoder.onnx'),
    targetEmbeddings: path.join(dir, 'target-embeddings.f32'),
    gpDir: path.join(dir, 'gp'),
    probeFeatures: (encoder) => path.join(dir, `eval-features-${encoder}.f32`),
  };
}

/** The run's starting encoder (random init or train.initCheckpoint), exported before iteration 0's first step. */
export function baseEncoderFile(runId: string): string {
  return path.join(iterationDir(runId, 0), 'encoder-base.onnx');
}

/** The target's embeddings under the starting encoder, for iteration 0's evaluation of it. */
export function baseTargetEmbeddingsFile(runId: string): string {
  return path.join(iterationDir(runId, 0), 'target-embeddings-base.f32');
}

/** This host's copy of an encoder (by key) and of its `.json` sidecar; returns the encoder's file. */
export async function fetchEncoder(key: string): Promise<string> {
  await fetchFile(`${key}.json`);
  return fetchFile(key);
}

/** The iterations whose folders this host has for `runId`, by index (one listing of the run's folder). */
export async function iterationFolders(runId: string): Promise<number[]> {
  const names = await readdirOrEmpty(path.dirname(iterationDir(runId, 0)));
  return names.flatMap((name) => {
    const index = /^iter-(\d+)$/.exec(name)?.[1];
    return index === undefined ? [] : [Number(index)];
  });
}

/**
 * With an object store, this host's copies of the run's iterations before `iteration - 1` are dropped (the
 * store keeps what retention keeps; a later reader fetches it again), and its image copies trimmed to their
 * cap (`trimImageCopies`), so any host's disk holds two iterations' files and a bounded number of images
 * however long the run. Every stage that leaves files on its host calls it when done. Without an object store
 * the state folder is the store: the train stage's retention (activities/train/retention.ts) decides.
 * Cost: one listing of the run's folder and of the host's images.
 */
export async function dropEarlierCopies(runId: string, iteration: number): Promise<number[]> {
  if (!objectStore()) return [];
  const dropped = (await iterationFolders(runId)).filter((index) => index < iteration - 1);
  for (const index of dropped) await rm(iterationDir(runId, index), { recursive: true, force: true });
  await trimImageCopies();
  return dropped;
}
