import fs from 'node:fs';
import type { Command } from 'commander';
import { logger } from '../../lib/logger';
import { startEngine } from '../../engine/server';
import { ensureWebdatasetManifest } from '../../engine/webdataset-corpus';
import { UsageError } from '../exit';

interface ServeOptions {
  port: string;
  host: string;
  corpus?: string;
  webdataset?: string;
  imageLatency?: string;
}

function nonNegative(flag: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > max)
    throw new UsageError(`${flag} must be an integer from 0 to ${max}, got '${value}'`);
  return n;
}

/** Runs the local search engine on its own until SIGINT/SIGTERM. */
async function serve(opts: ServeOptions): Promise<void> {
  const port = nonNegative('--port', opts.port, 65535);
  if (opts.corpus && opts.webdataset) throw new UsageError('give --corpus or --webdataset, not both');
  for (const [flag, p] of [
    ['--corpus', opts.corpus],
    ['--webdataset', opts.webdataset],
  ] as const)
    if (p && !fs.existsSync(p)) throw new UsageError(`${flag} ${p} does not exist`);
  const manifestPath = opts.webdataset ? await ensureWebdatasetManifest(opts.webdataset) : opts.corpus;
  const engine = await startEngine({
    manifestPath,
    port,
    host: opts.host,
    imageLatencyMs: opts.imageLatency === undefined ? undefined : nonNegative('--image-latency', opts.imageLatency),
  });
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
  web
    .command('serve')
    .description('serve the local image search engine on its own (runs point at it with search.baseUrl)')
    .option('-p, --port <port>', 'port (0 = any free port)', '8600')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--corpus <manifest>', 'JSONL corpus manifest (default: the built-in corpus, built on first use)')
    .option('--webdataset <dir>', 'serve a webdataset folder of tar shards (img2dataset output), indexed on first use')
    .option('--image-latency <ms>', 'delay before each image response, like a slow web server')
    .addHelpText('after', '\nFault injection and noise: node --import tsx engine/main.ts --help.')
    .action(serve);
}
