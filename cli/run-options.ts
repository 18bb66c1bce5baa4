import fs from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError, parseRunConfig, type RunConfig } from '../lib/config';

export interface RunFlags {
  config?: string;
  target?: string;
  mode?: string;
  iterations?: string;
  queries?: string;
  results?: string;
  steps?: string;
  batchSize?: string;
  seed?: string;
  preset?: string;
}

/** Options shared by `ie run` and `ie demo`: a config file, overridden by flags. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'JSON run config (flags override it)')
    .option('-t, --target <dir>', 'target folder of images (one subfolder per class = labels for evaluation only)')
    .addOption(
      new Option('--mode <mode>', 'explore (learned concept distribution) or random (baseline)').choices([
        'explore',
        'random',
      ]),
    )
    .option('-n, --iterations <n>', 'number of iterations')
    .option('-q, --queries <n>', 'queries (concepts) per iteration')
    .option('-r, --results <n>', 'results downloaded per query')
    .option('--steps <n>', 'training steps per iteration')
    .option('--batch-size <n>', 'training batch size')
    .option('--seed <n>', 'random seed')
    .addOption(new Option('--preset <name>', 'trainer preset').choices(['cpu-small', 'gpu-r50']));
}

function int(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`--${flag} must be an integer, got '${value}'`);
  return n;
}

export function buildRunConfig(flags: RunFlags, defaults: Record<string, unknown> = {}): RunConfig {
  let file: Record<string, unknown> = {};
  if (flags.config) {
    try {
      file = JSON.parse(fs.readFileSync(flags.config, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`cannot read config file ${flags.config}: ${(error as Error).message}`);
    }
  }
  const merged: Record<string, unknown> = { ...defaults, ...file };
  const set = (key: string, value: unknown) => value !== undefined && (merged[key] = value);
  set('target', flags.target);
  set('mode', flags.mode);
  set('iterations', int('iterations', flags.iterations));
  set('queriesPerIteration', int('queries', flags.queries));
  set('resultsPerQuery', int('results', flags.results));
  set('seed', int('seed', flags.seed));
  const train = { ...((defaults.train as object) ?? {}), ...((file.train as object) ?? {}) } as Record<string, unknown>;
  if (flags.steps !== undefined) train.steps = int('steps', flags.steps);
  if (flags.batchSize !== undefined) train.batchSize = int('batch-size', flags.batchSize);
  if (flags.preset !== undefined) train.preset = flags.preset;
  if (Object.keys(train).length) merged.train = train;
  return parseRunConfig(merged);
}
