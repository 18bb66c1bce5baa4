import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { DatasetsMissingError } from '../lib/datasets/require';
import { logger } from '../lib/logger';
import { FAULT_KINDS, type FaultConfigInput, parseFaultConfig } from './faults';
import { startEngine } from './server';
import { addEngineServeOptions, EngineFlagError, engineServeOptions, type EngineServeFlags } from './options';

const log = logger.child({ component: 'engine' });

async function main(): Promise<void> {
  const program = addEngineServeOptions(
    new Command()
      .name('engine')
      .description('Local image search engine over a corpus manifest (the offline stand-in for the web)'),
    '--port <port>',
    '--manifest <path>',
  )
    .option(
      '--faults <file>',
      `JSON fault config (engine/faults.ts): rates of ${FAULT_KINDS.length} fault kinds, noise, …`,
    )
    .option('--noise <fraction>', "fraction of each query's results replaced by random corpus images")
    .option('--fault-rate <fraction>', 'fraction of image URLs given a fault, spread evenly over every kind')
    .option('--seed <n>', 'seed of fault choice and noise')
    .option('--search-latency <ms>', 'delay before each search response')
    .parse();
  const opts = program.opts<
    EngineServeFlags & {
      faults?: string;
      noise?: string;
      faultRate?: string;
      seed?: string;
      searchLatency?: string;
    }
  >();
  const config = (opts.faults ? JSON.parse(await readFile(opts.faults, 'utf8')) : {}) as Record<string, unknown>;
  const num = (value: string | undefined, flag: string): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n)) program.error(`invalid ${flag} ${value}`);
    return n;
  };
  const flags = {
    noise: num(opts.noise, '--noise'),
    seed: num(opts.seed, '--seed'),
    searchLatencyMs: num(opts.searchLatency, '--search-latency'),
  };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) config[k] = v;
  const rate = num(opts.faultRate, '--fault-rate');
  if (rate !== undefined) config.rates = Object.fromEntries(FAULT_KINDS.map((k) => [k, rate / FAULT_KINDS.length]));
  let faults: FaultConfigInput = {};
  try {
    faults = parseFaultConfig(config);
  } catch (err) {
    program.error(`invalid fault config: ${(err as Error).message}`);
  }

  const serve = await engineServeOptions(opts, '--manifest').catch((err: unknown) => {
    if (err instanceof EngineFlagError) program.error(err.message);
    throw err;
  });
  const engine = await startEngine({ ...serve, faults });
  log.info({ url: engine.url, publicUrl: engine.publicUrl, images: engine.images }, 'engine listening');
  process.stdout.write(`${engine.url}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'engine stopping');
    engine.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'engine failed to stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  if (err instanceof DatasetsMissingError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(2);
  }
  log.error({ err }, 'engine failed to start');
  process.exit(1);
});
