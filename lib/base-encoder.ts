// The starting encoder a run begins from: `train.initCheckpoint` is `base` (the project's pretrained
// encoder for the preset, the default), `none` (random weights) or a checkpoint file. Every door (ie demo,
// ie run, ie benchmark, the plain Temporal CLI) goes through `resolveInitCheckpoint` in the run's prepare
// step, so the same input gives the same run.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config';
import { stateDir } from './paths';

/** `train.initCheckpoint` values that name no file. */
export const BASE_ENCODER = 'base';
export const NO_INIT = 'none';

/**
 * Pretraining steps of the default starting encoder (`base`): ≈ 8 minutes on 2 cores, so a first demo
 * shows its first iteration within a quarter of an hour. The paper starts from a converged MoCo v3 model;
 * longer pretraining ranks target classes a little better by reward (docs/method.md).
 */
export const DEFAULT_PRETRAIN_STEPS = 1000;

/** The learning benchmark's starting encoder: pretrained longer (loss 1.6–1.7 instead of ≈ 2.0). */
export const BENCHMARK_PRETRAIN_STEPS = 4000;

/** The images the default starting encoder is pretrained on (Tiny ImageNet's unlabelled test split). */
export const DEFAULT_PRETRAIN_SOURCE = 'tiny-imagenet-test';

/** Where `ie pretrain` writes an encoder of `preset` made from `source` in `steps` steps. */
export function baseEncoderCheckpoint(
  preset: string,
  steps = DEFAULT_PRETRAIN_STEPS,
  source = DEFAULT_PRETRAIN_SOURCE,
): string {
  return path.join(stateDir(), 'models', `base-${preset}-${source}-${steps}.pt`);
}

/**
 * The checkpoint file a run starts from (null: random weights), checked on this worker. `base` is the
 * default starting encoder of the preset, which `ie pretrain` builds (ie demo and ie benchmark build it on
 * first use); a missing one is a ConfigError that says how to build it or what to give instead.
 */
export function resolveInitCheckpoint(configured: string, preset: string): string | null {
  if (configured === NO_INIT) return null;
  if (configured === BASE_ENCODER) {
    const file = baseEncoderCheckpoint(preset);
    if (fs.existsSync(file)) return file;
    throw new ConfigError(
      `train.initCheckpoint is '${BASE_ENCODER}', but this worker has no starting encoder for ${preset} (${file}): ` +
        `build it with \`ie pretrain --preset ${preset}\`, or set train.initCheckpoint to a checkpoint file ` +
        `(MoCo v3, torchvision ResNet or ours) or to '${NO_INIT}' for random weights`,
    );
  }
  const file = path.resolve(configured);
  let isFile = false;
  try {
    isFile = fs.statSync(file).isFile();
  } catch {
    // reported below
  }
  if (!isFile)
    throw new ConfigError(
      `train.initCheckpoint: ${file} is not a readable file on this worker; ` +
        `give the path of a MoCo v3, torchvision ResNet or ietrainer checkpoint, '${BASE_ENCODER}' or '${NO_INIT}'`,
    );
  return file;
}
