import path from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, parseRunConfig, type RunConfig } from '../lib/config';
import { deepMerge, parseAssignments, readConfigFile, type PlainObject } from '../lib/config-file';

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
  set?: string[];
  printConfig?: boolean;
}

/** commander collector for a repeatable option (`--set a=1 --set b=2`). */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Options shared by `ie run` and `ie demo`: a config file, overridden by flags. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'run config file: JSON, or YAML if named .yaml/.yml (flags override it)')
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
    .addOption(new Option('--preset <name>', 'trainer preset').choices(['cpu-small', 'gpu-r50']))
    .option('--set <key=value>', 'any config key, e.g. --set download.concurrency=8 (repeatable)', collect)
    .option('--print-config', 'print the effective run config as JSON and exit without starting anything');
}

/** An integer flag's value (undefined when the flag was not given); `min` bounds it from below. */
export function intFlag(flag: string, value: string | undefined, min?: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n))
    throw new ConfigError(`--${flag} must be an integer, got '${value}'`);
  if (min !== undefined && n < min) {
    const wanted = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
    throw new ConfigError(`--${flag} must be ${wanted}, got '${value}'`);
  }
  return n;
}

/** The config file, then `--set` assignments over it, key by key (unvalidated). */
export function configLayers(flags: { config?: string; set?: string[] }): PlainObject {
  let merged: PlainObject = {};
  if (flags.config) merged = deepMerge(merged, readConfigFile(flags.config));
  if (flags.set?.length) merged = deepMerge(merged, parseAssignments(flags.set));
  return merged;
}

/** The config keys the named flags set (undefined where the flag was not given). */
function flagValues(flags: RunFlags): PlainObject {
  return {
    target: flags.target === undefined ? undefined : path.resolve(flags.target),
    mode: flags.mode,
    iterations: intFlag('iterations', flags.iterations),
    queriesPerIteration: intFlag('queries', flags.queries),
    resultsPerQuery: intFlag('results', flags.results),
    seed: intFlag('seed', flags.seed),
    train: {
      steps: intFlag('steps', flags.steps),
      batchSize: intFlag('batch-size', flags.batchSize),
      preset: flags.preset,
    },
  };
}

/**
 * The effective run config: command defaults, then the config file, then `--set` assignments, then the
 * named flags, each overriding the one before key by key; validated by the run config schema, whose
 * errors name each bad key and the allowed keys or values.
 */
export function buildRunConfig(flags: RunFlags, defaults: PlainObject = {}): RunConfig {
  let merged = deepMerge(deepMerge({}, defaults), configLayers(flags));
  merged = deepMerge(merged, flagValues(flags));
  // Workers may run elsewhere in the tree: the target they get is absolute.
  if (typeof merged.target === 'string' && merged.target) merged.target = path.resolve(merged.target);
  return parseRunConfig(merged);
}
