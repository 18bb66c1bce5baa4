import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError, type RunConfig } from '../lib/config';
import { logger } from '../lib/logger';
import { PROJECT_ROOT } from '../lib/paths';
import { ensureServices, stopServices, type Services } from '../lib/services';
import { ensureLocalWorkers } from '../lib/services/workers';
import { checkTargetReadable, listTarget } from '../activities/target';
import { parseRoles, runWorkers } from '../workers/create';
import { connectClient, startRun, webUiUrl } from '../lib/client';
import { registerBenchmarkCommand } from './commands/benchmark';
import { registerControlCommands } from './commands/control';
import { registerDataCommands } from './commands/data';
import { requireRunDatasets } from '../lib/datasets/require';
import { registerListCommand } from './commands/list';
import { registerReportCommand } from './commands/report';
import { followOnConsole, registerStatusCommand } from './commands/status';
import { registerWebCommands } from './commands/web';
import { EXIT, exitCodeFor } from './exit';
import { addRunOptions, buildRunConfig, type RunFlags } from './run-options';
import { PETS_CLASSES, prepareValTarget } from '../lib/targets';
import { timestampId } from '../lib/format';
import { registerPretrainCommand, withBaseEncoder, type BaseFlags } from './pretrain';
import { DEFAULT_PRETRAIN_STEPS } from '../lib/base-encoder';

/** The demo runs the project's defaults (lib/config.ts), 5 iterations: about 6 minutes on 2 CPU cores. */
const DEMO_DEFAULTS = { iterations: 5 };

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Checks config and target before anything is started, so bad input fails fast with a clear message. */
async function validateRun(config: RunConfig): Promise<number> {
  const listing = await listTarget(config.target);
  await checkTargetReadable(listing, config.download.maxPixels);
  out(
    `target ${listing.dir}: ${listing.files.length} images` +
      (listing.labels.length ? `, ${listing.labels.length} classes (labels used for evaluation only)` : ', unlabelled'),
  );
  return listing.files.length;
}

function exportServiceEnv(services: Services): void {
  process.env.DATABASE_URL = services.databaseUrl;
  process.env.TEMPORAL_ADDRESS = services.temporalAddress;
  if (services.engineUrl) process.env.IE_ENGINE_URL = services.engineUrl;
}

function defaultRunId(config: RunConfig): string {
  return `ie-${path.basename(config.target)}-${config.mode}-${timestampId()}`;
}

function projectVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

function printConfig(config: RunConfig): number {
  out(JSON.stringify(config, null, 2));
  return EXIT.ok;
}

async function demo(flags: RunFlags & BaseFlags & { keepServices?: boolean; id?: string }): Promise<number> {
  requireRunDatasets({ ownTarget: flags.target !== undefined });
  const target = flags.target ?? prepareValTarget('pets', PETS_CLASSES);
  const parsed = buildRunConfig({ ...flags, target }, DEMO_DEFAULTS);
  if (flags.printConfig) return printConfig(parsed);
  await validateRun(parsed);
  const config = await withBaseEncoder(parsed, flags, out);
  out('starting services (PostgreSQL, Temporal dev server, local search engine)…');
  const services = await ensureServices();
  exportServiceEnv(services);
  const runId = flags.id ?? defaultRunId(config);
  let code: number = EXIT.ok;
  try {
    const workers = await ensureLocalWorkers();
    out(
      `workers ${workers.started ? 'started' : 'already running'} (pid ${workers.pid}); their JSON logs: ${workers.logFile}`,
    );
    const client = await connectClient();
    await startRun(client, runId, config);
    out(
      `run ${runId} started: ${config.iterations} iterations × ${config.queriesPerIteration} queries × ${config.resultsPerQuery} results`,
    );
    if (services.webUi) out(`Temporal Web UI: ${webUiUrl(runId, services.webUi)}`);
    const started = Date.now();
    code = await followOnConsole(client, runId);
    out(`followed for ${((Date.now() - started) / 60000).toFixed(1)} min`);
    out(`  status:    ie status ${runId}`);
    out(`  report:    ie report ${runId}`);
    if (services.webUi) out(`  Web UI:    ${webUiUrl(runId, services.webUi)}`);
  } catch (error) {
    out(`run ${runId} failed: ${(error as Error).message}`);
    code = EXIT.failed;
  } finally {
    if (!flags.keepServices) {
      const stopped = await stopServices({ workers: true, ...services.started });
      if (stopped.length) out(`stopped ${stopped.join(', ')} (--keep-services leaves them running)`);
    } else {
      out(
        'workers and services left running: queries (ie status, temporal workflow query) keep working; `ie down` stops them',
      );
    }
  }
  return code;
}

async function main(): Promise<void> {
  // The console shows progress lines; structured service logs only when asked (workers log to their file).
  logger.level = process.env.IE_LOG_LEVEL ?? 'warn';
  const program = new Command()
    .name('ie')
    .description('Internet Explorer: targeted representation learning on the open web')
    .version(projectVersion())
    // Usage mistakes exit with 2 (bad input) rather than commander's 1, which means a failed run here.
    .exitOverride()
    .showHelpAfterError('(ie <command> --help lists its options)')
    .addHelpText(
      'after',
      `
Examples:
  ie demo                                   services + workers + a 5-iteration run on pets, followed
  ie pretrain                               the starting encoder the demo uses (built on first use)
  ie data fetch                             download and build the offline datasets (IE_DATASETS_DIR), checksums verified
  ie up && ie worker &                      services, then workers (another terminal)
  ie run --config run.yaml --iterations 3 --follow
  ie status RUN --follow                    live progress bars per stage
  ie list                                   runs, newest first
  ie report RUN --out report/               HTML page + PNGs

Exit codes: 0 ok, 1 the run (or command) failed, 2 bad input (config, flags, target, unknown run),
3 a service (PostgreSQL, Temporal) is not reachable.`,
    );

  addRunOptions(
    program
      .command('demo')
      .description('bring up local services, run an exploration on the default target (pets) and follow it to the end')
      .option('--keep-services', 'leave PostgreSQL, Temporal and the search engine running afterwards')
      .option('--id <runId>', 'workflow id of the run')
      .option('--no-base', 'start from random weights instead of the pretrained base encoder (see ie pretrain)')
      .option(
        '--base-steps <n>',
        `start from a base encoder pretrained for n steps (default ${DEFAULT_PRETRAIN_STEPS})`,
      ),
  ).action(async (flags: RunFlags & BaseFlags & { keepServices?: boolean; id?: string }) => {
    process.exitCode = await demo(flags);
  });

  addRunOptions(
    program
      .command('run')
      .description('start a run against running services and workers (TEMPORAL_ADDRESS, DATABASE_URL)')
      .option('--id <runId>', 'workflow id of the run')
      .option('-f, --follow', 'follow progress until the run ends'),
  ).action(async (flags: RunFlags & { id?: string; follow?: boolean }) => {
    if (!flags.target && !flags.config && !flags.set?.length)
      throw new ConfigError('give --target DIR (or a --config file with "target")');
    const config = buildRunConfig(flags);
    if (flags.printConfig) return void (process.exitCode = printConfig(config));
    await validateRun(config);
    const runId = flags.id ?? defaultRunId(config);
    const client = await connectClient();
    await startRun(client, runId, config);
    out(`run ${runId} started; Web UI: ${webUiUrl(runId)}`);
    try {
      if (flags.follow) process.exitCode = await followOnConsole(client, runId);
      else out(`  ie status ${runId} --follow   # live progress`);
    } finally {
      await client.connection.close();
    }
  });

  program
    .command('up')
    .description('start (or reuse) PostgreSQL, the Temporal dev server and the local search engine')
    .action(async () => {
      const s = await ensureServices();
      out(`DATABASE_URL=${s.databaseUrl}\nTEMPORAL_ADDRESS=${s.temporalAddress}\nIE_ENGINE_URL=${s.engineUrl}`);
      if (s.webUi) out(`Temporal Web UI: ${s.webUi}`);
    });

  program
    .command('down')
    .description('stop the local services started by `ie up` or `ie demo --keep-services`')
    .action(async () => {
      const stopped = await stopServices();
      out(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing was running');
    });

  program
    .command('worker')
    .description('run workers for the given roles (all | workflows,io,score,train) against TEMPORAL_ADDRESS')
    .argument('[roles]', 'comma-separated roles', 'all')
    .action(async (roles: string) => runWorkers(parseRoles(roles), out));

  registerStatusCommand(program);
  registerListCommand(program);
  registerReportCommand(program);
  registerWebCommands(program);
  registerControlCommands(program);
  registerBenchmarkCommand(program);
  registerPretrainCommand(program);
  registerDataCommands(program);

  await program.parseAsync();
}

main().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // commander has printed the message (or the help) already
    const shown = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code);
    process.exit(shown ? EXIT.ok : EXIT.badInput);
  }
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(exitCodeFor(error));
});
