// Every file an iteration's stages hand to each other lives where this module says, and nowhere else:
// stages ask it for paths instead of asking each other. Everything is per iteration (its size depends on
// the iteration, never on the run so far) under `<state>/runs/<run>/iter-NNN/`.
//
// Each is written whole (a temp file, then rename: a crash or a duplicate execution never leaves a torn
// file, and of two writers at once one whole file wins) and checked by its reader, which refuses, naming
// the file, what does not check out: float32 arrays carry a header with their shape and sha256
// (lib/files.ts writeFloat32File, trainer/ietrainer/handover.py), the manifest its counts, an encoder's
// `.json` sidecar the size and sha256 of its model.
import path from 'node:path';
import { stateDir } from '../lib/paths';
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
