/**
 * Stand-alone entry of the benchmark command: `node --import tsx benchmark/main.ts benchmark [flags]`
 * (the same command as `ie benchmark`).
 */
import { Command } from 'commander';
import { ConfigError } from '../lib/config';
import { logger } from '../lib/logger';
import { TargetError } from '../lib/errors';
import { registerBenchmarkCommand } from './command';
import { RelevanceError } from './relevance';

logger.level = process.env.IE_LOG_LEVEL ?? 'warn';
const program = new Command().name('ie');
registerBenchmarkCommand(program);
program.parseAsync().catch((error: unknown) => {
  const bad = error instanceof ConfigError || error instanceof TargetError || error instanceof RelevanceError;
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(bad ? 2 : 1);
});
