import path from 'node:path';
import type { Command } from 'commander';
import { closeDb } from '../../lib/db';
import { stateDir } from '../../lib/paths';
import { writeReport } from '../../report';
import { ServiceUnavailableError, UsageError, isUnreachable, unreachableReason } from '../../lib/errors';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description("write a run's report: one self-contained HTML page and PNGs")
    .addHelpText(
      'after',
      '\nThe page shows reward and accuracy curves, images downloaded and kept per iteration, the top concepts\n' +
        'of each iteration, how the concept distribution sharpened, sampled downloads at the first, middle and\n' +
        'last iteration, and time per stage.',
    )
    .argument('<run>', 'run id')
    .option('-o, --out <dir>', 'output folder (default: .state/reports/<run>)')
    .option('--grid <n>', 'images per sampled grid', '24')
    .addHelpText(
      'after',
      '\nReads everything from PostgreSQL (DATABASE_URL). Exit codes: 0 written, 2 no such run or no iteration yet,\n' +
        '3 PostgreSQL is not reachable.',
    )
    .action(async (runId: string, opts: { out?: string; grid: string }) => {
      const out = path.resolve(opts.out ?? path.join(stateDir(), 'reports', runId));
      const gridSize = Number(opts.grid);
      if (!Number.isInteger(gridSize) || gridSize < 1 || gridSize > 400)
        throw new UsageError(`--grid must be an integer from 1 to 400, got '${opts.grid}'`);
      try {
        const written = await writeReport(runId, out, { gridSize });
        process.stdout.write(`${written.html}\n`);
        process.stdout.write(`${written.pngs.length} PNGs in ${out}\n`);
        if (written.missingImages.length)
          process.stdout.write(
            `${written.missingImages.length} sampled images could not be shown (named in the page): ` +
              `${written.missingImages.map((m) => `${m.sha256.slice(0, 12)} ${m.problem}`).join('; ')}\n`,
          );
      } catch (error) {
        if (isUnreachable(error))
          throw new ServiceUnavailableError(`PostgreSQL is not reachable (DATABASE_URL): ${unreachableReason(error)}`);
        throw error;
      } finally {
        await closeDb();
      }
    });
}
