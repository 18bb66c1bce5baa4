/**
 * `ie benchmark`: brings up the local services, runs Internet Explorer and random exploration with the
 * same budget on a target, and writes the report.
 */
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Command, Option } from 'commander';
import { ensureDefaultCorpus } from '../../engine/build-corpus';
import { ConfigError } from '../../lib/config';
import { CLASSES_FILE, DEFAULT_CORPUS_FILES, tinySplitFiles } from '../../lib/datasets/layout';
import { requireDatasets } from '../../lib/datasets/require';
import { timestampId } from '../../lib/format';
import { stateDir } from '../../lib/paths';
import { ensureServices, stopServices } from '../../lib/services';
import { PETS_CLASSES, prepareValTarget } from '../../lib/targets';
import { createWorkers, installRuntimeLogging } from '../../workers/create';
import { deepMerge, type PlainObject } from '../../lib/config-file';
import { collect, configLayers, intFlag } from '../run-options';
import { withBaseEncoder } from '../pretrain';
import { BENCHMARK_PRETRAIN_STEPS } from '../../lib/base-encoder';
import { armConfig, runBenchmark } from '../../bench/learning/run';
import { formatSeedsVerdict, seedsVerdict, writeSeedsVerdict } from '../../bench/learning/seeds';
import type { BenchmarkSummary } from '../../bench/learning/report';

export interface BenchmarkFlags {
  target?: string;
  iterations?: string;
  queries?: string;
  results?: string;
  steps?: string;
  seed?: string;
  seeds?: string;
  manifest?: string;
  out?: string;
  id?: string;
  keepServices?: boolean;
  config?: string;
  set?: string[];
  /** commander's `--no-base`. */
  base?: boolean;
  baseSteps?: string;
}

/** Run-config keys both arms share: the config file, then `--set` assignments (the budget flags win). */
function sharedConfig(flags: BenchmarkFlags): PlainObject {
  const merged = configLayers(flags);
  for (const key of ['mode', 'target'] as const) {
    if (key in merged) throw new ConfigError(`the benchmark sets '${key}' itself; remove it from --config/--set`);
  }
  return merged;
}

/** `--seeds 0,1,2`: distinct integer seeds, in the order given. */
export function seedList(flags: Pick<BenchmarkFlags, 'seed' | 'seeds'>): number[] | undefined {
  if (flags.seeds === undefined) return undefined;
  if (flags.seed !== undefined) throw new ConfigError('give --seed or --seeds, not both');
  const seeds = flags.seeds.split(',').map((s) => s.trim());
  const parsed = seeds.map((s) => (/^-?\d+$/.test(s) ? Number(s) : NaN));
  if (seeds.length === 0 || parsed.some((n) => !Number.isSafeInteger(n))) {
    throw new ConfigError(`--seeds takes a comma-separated list of integers, e.g. 0,1,2; got '${flags.seeds}'`);
  }
  if (new Set(parsed).size !== parsed.length) throw new ConfigError(`--seeds lists a seed twice: '${flags.seeds}'`);
  return parsed;
}

/**
 * Runs the whole benchmark (with `--seeds`, one per seed, one after another, then the median and range of
 * each figure); resolves to the process exit code (0 done, 1 an arm failed, 130 interrupted).
 */
export async function benchmarkCommand(flags: BenchmarkFlags, out: (line: string) => void): Promise<number> {
  // What it reads from the datasets: the pets target, the classes (relevance) and the corpus an engine it starts serves.
  requireDatasets([
    ...(flags.target ? [] : tinySplitFiles('val')),
    CLASSES_FILE,
    ...(flags.manifest && process.env.IE_ENGINE_URL ? [] : DEFAULT_CORPUS_FILES),
  ]);
  const target = flags.target ?? prepareValTarget('pets', PETS_CLASSES);
  const budget = {
    iterations: intFlag('iterations', flags.iterations),
    queriesPerIteration: intFlag('queries', flags.queries),
    resultsPerQuery: intFlag('results', flags.results),
    trainSteps: intFlag('steps', flags.steps),
    seed: intFlag('seed', flags.seed),
  };
  const seeds = seedList(flags);
  let config = sharedConfig(flags);
  // Fail on a bad key or value before any service starts (the schema names the key and what it allows).
  const parsed = armConfig({ target, budget, config, manifestPath: '', outDir: '', idPrefix: '' }, 'explore');
  // Both arms start from the same encoder: the pretrained base unless told otherwise.
  const baseSteps = flags.baseSteps ?? String(BENCHMARK_PRETRAIN_STEPS);
  const initCheckpoint = (await withBaseEncoder(parsed, { ...flags, baseSteps }, out)).train.initCheckpoint;
  if (initCheckpoint) config = deepMerge(config, { train: { initCheckpoint } });
  if (process.env.IE_ENGINE_URL && !flags.manifest) {
    throw new ConfigError(
      'IE_ENGINE_URL points at an engine this command did not start: give --manifest, the corpus manifest it serves',
    );
  }
  out('starting services (PostgreSQL, Temporal dev server, local search engine)…');
  const services = await ensureServices();
  process.env.DATABASE_URL = services.databaseUrl;
  process.env.TEMPORAL_ADDRESS = services.temporalAddress;
  if (services.engineUrl) process.env.IE_ENGINE_URL = services.engineUrl;
  const manifestPath = flags.manifest ?? (await ensureDefaultCorpus());
  const id = flags.id ?? `bench-${path.basename(path.resolve(target))}-${timestampId()}`;
  const outDir = path.resolve(flags.out ?? path.join(stateDir(), 'benchmarks', id));

  installRuntimeLogging();
  const workerConnection = await NativeConnection.connect({ address: services.temporalAddress });
  const connection = await Connection.connect({ address: services.temporalAddress });
  const workers: Worker[] = await createWorkers(workerConnection);
  const running = workers.map((w) => w.run());
  // Ctrl-C or SIGTERM ends the arms in progress and still writes their report; a second one exits at once.
  const interrupt = new AbortController();
  const onSignal = (): void => {
    if (interrupt.signal.aborted) process.exit(130);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code = 0;
  try {
    const started = Date.now();
    const summaries: BenchmarkSummary[] = [];
    for (const seed of seeds ?? [budget.seed]) {
      if (interrupt.signal.aborted) break;
      const perSeed = seeds !== undefined;
      if (perSeed) out(`— seed ${seed} —`);
      const result = await runBenchmark(new Client({ connection }), {
        target,
        budget: { ...budget, seed },
        config,
        manifestPath,
        engineUrl: services.engineUrl || undefined,
        outDir: perSeed ? path.join(outDir, `seed-${seed}`) : outDir,
        idPrefix: perSeed ? `${id}-s${seed}` : id,
        print: out,
        signal: interrupt.signal,
      }).catch((error: unknown) => {
        if (interrupt.signal.aborted && error === interrupt.signal.reason) return null; // before the arms started
        throw error;
      });
      if (!result) break;
      out(result.printed);
      out(`table:   ${result.files.csv}\nsummary: ${result.files.json}\nreport:  ${result.files.html}`);
      summaries.push(result.summary);
      const arms = Object.values(result.summary.arms);
      if (arms.some((a) => a.status !== 'completed')) code = 1;
    }
    if (seeds !== undefined && !interrupt.signal.aborted) {
      const verdict = seedsVerdict(summaries);
      const files = await writeSeedsVerdict(outDir, verdict);
      out(`\n${summaries[0]?.target ?? target}, seeds ${seeds.join(', ')}:\n${formatSeedsVerdict(verdict)}`);
      out(`seeds:   ${files.md}\n         ${files.json}`);
    }
    out(`finished in ${((Date.now() - started) / 60000).toFixed(1)} min`);
    if (interrupt.signal.aborted) code = 130;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await workerConnection.close();
    await connection.close();
    if (!flags.keepServices) {
      const stopped = await stopServices(services.started);
      if (stopped.length) out(`stopped ${stopped.join(', ')} (use --keep-services to leave them running)`);
    }
  }
  return code;
}

/** Adds `benchmark` to the `ie` program. */
export function registerBenchmarkCommand(program: Command): void {
  program
    .command('benchmark')
    .description(
      'run Internet Explorer and random exploration with the same budget on a target; report precision, accuracy and concepts per iteration',
    )
    .option(
      '-t, --target <dir>',
      'target folder, one subfolder per class named by WordNet id or class name (default: pets)',
    )
    .option('-n, --iterations <n>', 'iterations per arm (default: the run config default)')
    .option('-q, --queries <n>', 'queries per iteration')
    .option('-r, --results <n>', 'results downloaded per query')
    .option('--steps <n>', 'training steps per iteration')
    .option('--seed <n>', 'random seed, shared by both arms')
    .option(
      '--seeds <list>',
      'several seeds, e.g. 0,1,2: one benchmark per seed, one after another, then the median and range of each figure',
    )
    .option('-c, --config <file>', 'run config file both arms share: JSON, or YAML if named .yaml/.yml')
    .option(
      '--set <key=value>',
      'any run config key both arms share, e.g. --set train.initCheckpoint=FILE (repeatable)',
      collect,
    )
    .option('--no-base', 'both arms start from random weights instead of the pretrained base encoder (ie pretrain)')
    .option(
      '--base-steps <n>',
      `pretraining steps of the base encoder both arms start from (default ${BENCHMARK_PRETRAIN_STEPS})`,
    )
    .option('--manifest <file>', 'corpus manifest the search engine serves (default: the default corpus)')
    .option('-o, --out <dir>', 'where the report goes (default: .state/benchmarks/<id>)')
    .option('--id <prefix>', 'run id prefix; the arms are <prefix>-explore and <prefix>-random')
    .addOption(new Option('--keep-services', 'leave PostgreSQL, Temporal and the search engine running afterwards'))
    .action(async (flags: BenchmarkFlags) => {
      process.exitCode = await benchmarkCommand(flags, (line) => process.stdout.write(`${line}\n`));
    });
}
