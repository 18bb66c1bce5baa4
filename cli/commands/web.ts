import type { Command } from 'commander';
import { logger } from '../../lib/logger';
import { startEngine } from '../../engine/server';
import {
  addEngineServeOptions,
  EngineFlagError,
  engineServeOptions,
  type EngineServeFlags,
} from '../../engine/options';
import { UsageError } from '../../lib/errors';

/** Runs the local search engine on its own until SIGINT/SIGTERM. */
async function serve(opts: Omit<EngineServeFlags, 'manifest'> & { corpus?: string }): Promise<void> {
  const options = await engineServeOptions({ ...opts, manifest: opts.corpus }, '--corpus').catch((err: unknown) => {
    throw err instanceof EngineFlagError ? new UsageError(err.message) : err;
  });
  const engine = await startEngine(options);
  process.stdout.write(`search engine on ${engine.url} (${engine.images} images); Ctrl-C stops it\n`);
  process.stdout.write(`  try: curl '${engine.url}/search?q=golden+retriever'\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'engine stopping');
      engine.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerWebCommands(program: Command): void {
  const web = program.command('web').description('the local search engine (the offline web)');
  addEngineServeOptions(
    web
      .command('serve')
      .description('serve the local image search engine on its own (runs point at it with search.baseUrl)'),
    '-p, --port <port>',
    '--corpus <manifest>',
  )
    .addHelpText('after', '\nFault injection and noise: node --import tsx engine/main.ts --help.')
    .action(serve);
}
