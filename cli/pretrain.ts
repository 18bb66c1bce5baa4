/**
 * `ie pretrain`: a starting encoder for runs, trained self-supervised (the trainer's MoCo v3) on a folder of
 * unlabelled generic photos — by default Tiny ImageNet's unlabelled test split, which neither the search
 * corpus nor any target contains. It plays the part of the paper's ImageNet MoCo v3 start point, which
 * cannot be downloaded here; a run uses it through `train.initCheckpoint`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { listTarget } from '../activities/target';
import { runTrainer } from '../activities/train/trainer-process';
import { Command, Option } from 'commander';
import {
  BASE_ENCODER,
  DEFAULT_PRETRAIN_SOURCE,
  DEFAULT_PRETRAIN_STEPS,
  NO_INIT,
  baseEncoderCheckpoint,
  resolveInitCheckpoint,
} from '../lib/base-encoder';
import { ConfigError, type RunConfig } from '../lib/config';
import { pythonExecutable, stateDir } from '../lib/paths';
import { silentProgress, type StepProgress } from '../lib/progress';
import { consoleProgress } from './progress-view';
import { intFlag } from './run-options';
import { prepareUnlabelledTinyTest } from '../lib/targets';

export const PRETRAIN_PRESETS = ['cpu-small', 'gpu-r50'] as const;
export type PretrainPreset = (typeof PRETRAIN_PRESETS)[number];

export interface PretrainOptions {
  /** Folder of unlabelled images (searched recursively); default: Tiny ImageNet's test split. */
  images?: string;
  steps?: number;
  preset?: PretrainPreset;
  batchSize?: number;
  seed?: number;
  /** Checkpoint file to write; default: .state/models/base-<preset>-<images>-<steps>.pt */
  out?: string;
  python?: string;
  print?: (line: string) => void;
  /** Live progress of the pretraining (steps, ETA, loss); default: none. */
  progress?: StepProgress;
  signal?: AbortSignal;
}

/** What a base checkpoint was made from; stored next to it, and compared to decide whether to rebuild. */
export interface PretrainProvenance {
  preset: PretrainPreset;
  steps: number;
  batchSize: number | null;
  seed: number;
  images: string;
  imageCount: number;
  /** SHA-256 of the sorted image paths and sizes: another folder content means another encoder. */
  imagesDigest: string;
}

export interface PretrainResult {
  path: string;
  built: boolean;
  provenance: PretrainProvenance;
}

/** Builds the base encoder unless a checkpoint made from the same images and settings is already there. */
export async function ensureBaseEncoder(opts: PretrainOptions = {}): Promise<PretrainResult> {
  const print = opts.print ?? (() => undefined);
  const preset = opts.preset ?? 'cpu-small';
  const steps = opts.steps ?? DEFAULT_PRETRAIN_STEPS;
  if (!Number.isInteger(steps) || steps < 1)
    throw new ConfigError(`pretraining steps must be a positive integer, got ${steps}`);
  const imagesDir = path.resolve(opts.images ?? prepareUnlabelledTinyTest());
  const sourceName = opts.images === undefined ? DEFAULT_PRETRAIN_SOURCE : path.basename(imagesDir);
  const files = (await listTarget(imagesDir)).files.map((f) => f.path).sort();
  const provenance: PretrainProvenance = {
    preset,
    steps,
    batchSize: opts.batchSize ?? null,
    seed: opts.seed ?? 0,
    images: imagesDir,
    imageCount: files.length,
    imagesDigest: digestOf(files),
  };
  const out = path.resolve(opts.out ?? baseEncoderCheckpoint(preset, steps, sourceName));
  if (fs.existsSync(out) && sameProvenance(readProvenance(out), provenance)) {
    return { path: out, built: false, provenance };
  }

  // Work folder keyed by the provenance: an interrupted pretraining resumes from its last checkpoint.
  const key = createHash('sha256').update(JSON.stringify(provenance)).digest('hex').slice(0, 16);
  const work = path.join(stateDir(), 'pretrain', key);
  fs.mkdirSync(work, { recursive: true });
  const manifest = path.join(work, 'manifest.json');
  // The trainer's manifest calls the images it always trains on 'target'; here they are all there is.
  fs.writeFileSync(manifest, JSON.stringify({ target: files, candidates: [], replay: [] }));
  const args = ['--manifest', manifest, '--out-dir', path.join(work, 'checkpoints'), '--preset', preset];
  args.push('--steps', String(steps), '--seed', String(provenance.seed), '--resume', 'auto');
  if (opts.batchSize !== undefined) args.push('--batch-size', String(opts.batchSize));

  print(`pretraining a ${preset} encoder on ${files.length} images of ${imagesDir} for ${steps} steps → ${out}`);
  const started = Date.now();
  const progress = opts.progress ?? silentProgress;
  let lastLoss: number | undefined;
  progress.begin(`pretraining (${preset}, ${steps} steps)`, steps, 'steps');
  let done: Awaited<ReturnType<typeof runTrainer>>;
  try {
    done = await runTrainer({
      python: opts.python ?? pythonExecutable(),
      args,
      signal: opts.signal ?? new AbortController().signal,
      onEvent: (event) => {
        if (event.event === 'resumed') {
          progress.note(`  resuming at step ${event.step}`);
          progress.resumed(event.step);
        }
        if (event.event !== 'step') return;
        lastLoss = event.loss;
        progress.update(event.step, undefined, `loss ${event.loss.toFixed(3)}`);
      },
    });
  } catch (error) {
    progress.end(true);
    throw error;
  }
  progress.end();
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  fs.copyFileSync(done.checkpoint, tmp);
  fs.renameSync(tmp, out);
  const record = { ...provenance, finalLoss: lastLoss ?? null, seconds: (Date.now() - started) / 1000 };
  fs.writeFileSync(provenancePath(out), JSON.stringify(record, null, 2));
  print(`base encoder written: ${out} (${record.seconds.toFixed(0)} s)`);
  return { path: out, built: true, provenance };
}

function provenancePath(checkpoint: string): string {
  return `${checkpoint}.json`;
}

function readProvenance(checkpoint: string): Partial<PretrainProvenance> | undefined {
  try {
    return JSON.parse(fs.readFileSync(provenancePath(checkpoint), 'utf8')) as Partial<PretrainProvenance>;
  } catch {
    return undefined;
  }
}

function sameProvenance(stored: Partial<PretrainProvenance> | undefined, wanted: PretrainProvenance): boolean {
  if (!stored) return false;
  return (Object.keys(wanted) as (keyof PretrainProvenance)[]).every((k) => stored[k] === wanted[k]);
}

function digestOf(files: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file}\t${fs.statSync(file).size}\n`);
  return hash.digest('hex');
}

export interface BaseFlags {
  /** commander's `--no-base`: false when the run should start from random weights. */
  base?: boolean;
  /** Pretraining steps of the base to start from, when not the default one (`--base-steps`). */
  baseSteps?: string;
}

/**
 * Makes sure the run's starting encoder exists before anything starts. The config keeps `base` (each worker
 * resolves it the same way, whichever door started the run); ie demo and ie benchmark build the default
 * cpu-small one on first use, and `--no-base` starts from random weights. A starting encoder that is not
 * there fails here, saying how to get one.
 */
export async function withBaseEncoder(
  config: RunConfig,
  flags: BaseFlags,
  print: (line: string) => void,
): Promise<RunConfig> {
  if (flags.base === false) return { ...config, train: { ...config.train, initCheckpoint: NO_INIT } };
  const steps = intFlag('base-steps', flags.baseSteps, 1) ?? DEFAULT_PRETRAIN_STEPS;
  if (config.train.initCheckpoint === BASE_ENCODER && config.train.preset === 'cpu-small') {
    const base = await ensureBaseEncoder({ preset: 'cpu-small', steps, print, progress: consoleProgress(print) });
    if (!base.built) print(`starting encoder: ${base.path} (pretrained; --no-base starts from random weights)`);
    // Another pretraining than the default is named by its file, so every worker starts from it.
    if (steps !== DEFAULT_PRETRAIN_STEPS) return { ...config, train: { ...config.train, initCheckpoint: base.path } };
  }
  resolveInitCheckpoint(config.train.initCheckpoint, config.train.preset);
  return config;
}

/** Adds `pretrain` to the `ie` program. */
export function registerPretrainCommand(program: Command): void {
  program
    .command('pretrain')
    .description(
      'train a starting encoder self-supervised on unlabelled photos (default: Tiny ImageNet test split); runs use it via train.initCheckpoint',
    )
    .option('--images <dir>', 'folder of unlabelled images, searched recursively (default: Tiny ImageNet test split)')
    .option('--steps <n>', `optimisation steps (default: ${DEFAULT_PRETRAIN_STEPS})`)
    .addOption(new Option('--preset <name>', 'trainer preset').choices([...PRETRAIN_PRESETS]).default('cpu-small'))
    .option('--batch-size <n>', "batch size (default: the preset's)")
    .option('--seed <n>', 'random seed', '0')
    .option('-o, --out <file>', 'checkpoint to write (default: .state/models/base-<preset>-<images>-<steps>.pt)')
    .action(
      async (flags: {
        images?: string;
        steps?: string;
        preset: PretrainPreset;
        batchSize?: string;
        seed: string;
        out?: string;
      }) => {
        const result = await ensureBaseEncoder({
          images: flags.images,
          steps: intFlag('steps', flags.steps, 1),
          preset: flags.preset,
          batchSize: intFlag('batch-size', flags.batchSize, 2),
          seed: intFlag('seed', flags.seed, 0),
          out: flags.out,
          print: (line) => process.stdout.write(`${line}\n`),
          progress: consoleProgress((line) => process.stdout.write(`${line}\n`)),
        });
        if (!result.built) process.stdout.write(`already built: ${result.path}\n`);
        process.stdout.write(`use it: ie run --set train.initCheckpoint=${result.path} …\n`);
      },
    );
}
