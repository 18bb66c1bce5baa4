import { Command } from 'commander';
import { logger } from '../lib/logger';
import { startEngine } from './server';

const log = logger.child({ component: 'engine' });

async function main(): Promise<void> {
  const program = new Command()
    .name('engine')
    .description('Local image search engine over a corpus manifest (the offline stand-in for the web)')
    .option('--port <port>', 'port to listen on (0 = any free port)', '8600')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--manifest <path>', 'JSONL corpus manifest (default: the built-in corpus, built on first use)')
    .option('--image-latency <ms>', 'delay before each image response, like a slow web server', '0')
    .parse();
  const opts = program.opts<{ port: string; host: string; manifest?: string; imageLatency: string }>();
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) program.error(`invalid --port ${opts.port}`);

  const engine = await startEngine({
    manifestPath: opts.manifest,
    port,
    host: opts.host,
    imageLatencyMs: Number(opts.imageLatency),
  });
  log.info({ url: engine.url, images: engine.images }, 'engine listening');
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
  log.error({ err }, 'engine failed to start');
  process.exit(1);
});
